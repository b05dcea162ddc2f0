// A communicator: its ranks, transports and progress engine, and the translation of public
// collective calls into operations (schedule + buffers) that the engine runs.
#pragma once

#include <loom/loom.h>

#include <atomic>
#include <list>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "algo/algorithms.hpp"
#include "algo/select.hpp"
#include "bootstrap/bootstrap.hpp"
#include "core/control_port.hpp"
#include "core/diag_service.hpp"
#include "core/engine.hpp"
#include "core/spin_lock.hpp"
#include "cost/model.hpp"
#include "topo/topology.hpp"
#include "transport/fabric.hpp"

namespace loom::core {

// One public collective call, validated by the API layer.
struct CollCall {
  algo::Coll coll = algo::Coll::AllReduce;
  const void* send = nullptr;
  void* recv = nullptr;
  size_t count = 0;
  loomDataType_t type = loomFloat32;
  loomRedOp_t op = loomSum;
  int root = 0;
  const size_t* sendCounts = nullptr;
  const size_t* sendDispls = nullptr;
  const size_t* recvCounts = nullptr;
  const size_t* recvDispls = nullptr;
};

// One send or receive of a point-to-point group.
struct P2pCall {
  bool isSend = true;
  int peer = 0;
  const void* send = nullptr;
  void* recv = nullptr;
  size_t bytes = 0;
};

class Communicator {
 public:
  static Result<std::unique_ptr<Communicator>> init(const loomUniqueId& id, int rank, int nranks);
  ~Communicator();

  int rank() const { return rank_; }
  int nranks() const { return nranks_; }
  const transport::Fabric& fabric() const { return *fabric_; }

  // With `blocking` the caller waits for the request at once, so the operation may run on the
  // calling thread (see Engine::submit); then the request is null when it has already completed
  // successfully (no shared completed request to count references on, per call).
  Result<std::shared_ptr<RequestState>> collective(const CollCall& call, bool blocking = false);
  Result<std::shared_ptr<RequestState>> pointToPoint(const std::vector<P2pCall>& calls, bool blocking = false);

  Result<loomRedOp_t> createPreMulSum(const void* scalar, loomDataType_t type, loomScalarResidence_t residence);
  Status destroyRedOp(loomRedOp_t op);
  Status validateOp(loomRedOp_t op, loomDataType_t type) const;

  // New communicators (src/core/split.cpp). Split is collective over this communicator; shrink
  // needs no communication on it, so survivors of a failure can call it. nullptr result: this
  // rank is not a member (color LOOM_SPLIT_NOCOLOR).
  Result<std::unique_ptr<Communicator>> split(int color, int key);
  Result<std::unique_ptr<Communicator>> shrink(const std::vector<int>& exclude);

  // The cost model's view of this communicator (shared by all ranks: rank 0's tuning).
  const cost::Tuning& tuning() const { return tuning_; }
  const cost::Placement& placement() const { return placement_; }
  const topo::Topology& topology() const { return topology_; }
  // Every candidate's predicted time for `count` elements of `type` (per rank block where the
  // layout says so); best is what a call would run unless LOOM_ALGO forces another.
  Result<cost::Choice> predict(algo::Coll coll, size_t count, loomDataType_t type) const;
  // The prediction for what a call would run (LOOM_ALGO honoured); with `loop`, also per call in a
  // loop of such calls (cost::estimate).
  Result<cost::Estimate> estimateCall(algo::Coll coll, size_t count, loomDataType_t type, bool loop);

  // The operation deadline (LOOM_TIMEOUT at init); applies to operations that start later.
  void setTimeout(double seconds) { engine_->setTimeout(seconds); }
  double timeout() const { return engine_->timeout(); }
  // Waits for queued work (bounded by deadlines) and releases everything.
  void shutdown();
  void abort();
  Status asyncError() const { return engine_ ? engine_->asyncError() : Status(); }
  std::vector<int> failedRanks() const { return engine_ ? engine_->failedPeers() : std::vector<int>(); }

 private:
  Communicator(int rank, int nranks) : rank_(rank), nranks_(nranks) {}
  Status setUp(const loomUniqueId& id);
  // This rank's host as JSON for the init exchange ("" when LOOM_TOPO_FILE replaces detection).
  static Result<std::string> describeHost(const std::string& hostId);
  // The job's topology and the cost model's placement from every rank's card (job_topology.cpp).
  Status setUpTopology(const std::vector<struct InitCard>& cards);
  // Joins the communicator of `members` (parent ranks, in new rank order) whose rendezvous the
  // first member hosts on its control port.
  Result<std::unique_ptr<Communicator>> joinChild(const std::vector<int>& members, uint64_t salt);
  // Hands `op` to the engine. With `blocking` the caller waits at once, so it runs on the calling
  // thread when nothing earlier is pending (Engine::runInline), and the request it returns is
  // null (done, successfully); otherwise it is queued with a request of its own.
  Result<std::shared_ptr<RequestState>> issue(Operation&& op, bool blocking);
  // The LOOM_CHECK operation that precedes a collective (call_check.cpp).
  std::unique_ptr<Operation> makeCallCheck(const CollCall& call, uint64_t collSeq);
  // Runs an internal blocking collective on this communicator.
  Status runInternal(const CollCall& call);

  struct CustomOp {
    bool inUse = false;
    loomDataType_t type = loomFloat32;
    loomScalarResidence_t residence = loomScalarHostImmediate;
    double value = 0;              // host-immediate scalar
    const void* pointer = nullptr; // read at each call otherwise
  };
  // The algorithm and chunk size for a call: LOOM_ALGO, else the cost model's best (cached); a
  // forced pipelined algorithm's chunk is the model's best for it.
  struct Pick {
    algo::Algo algo = algo::Algo::Ring;
    size_t chunkBytes = 0;
  };
  Result<Pick> pick(algo::Coll coll, size_t count, loomDataType_t type, size_t selectBytes);
  size_t modelChunk(algo::Algo a, algo::Coll coll, size_t count, loomDataType_t type) const;
  std::vector<size_t> chunkCandidates() const;

  using PlanKey = std::tuple<int, int, size_t, size_t, int, bool, size_t>;
  std::shared_ptr<const PreparedSchedule> cachedPlan(const algo::CollArgs& args, algo::Algo algo, Status* err);

  // The last collective's shape and what it resolved to (collective_call.cpp).
  struct LastCall {
    algo::Coll coll = algo::Coll::AllReduce;
    size_t count = 0;
    loomDataType_t type = loomFloat32;
    int root = 0;
    bool inPlace = false;
    algo::Algo algo = algo::Algo::Auto;
    size_t chunkBytes = 0;
    std::shared_ptr<const PreparedSchedule> plan;
    bool sameShape(const LastCall& o) const {
      return coll == o.coll && count == o.count && type == o.type && root == o.root && inPlace == o.inPlace;
    }
  };

  int rank_;
  int nranks_;
  std::unique_ptr<transport::Fabric> fabric_;
  std::shared_ptr<ProgressBoard> board_ = std::make_shared<ProgressBoard>();  // outlives engine_ and diag_
  std::shared_ptr<TempPool> temps_ = TempPool::create();  // operations' temporary buffers
  std::unique_ptr<DiagService> diag_;      // answers other ranks' timeout reports
  std::vector<ControlAddress> diagOf_;     // every rank's diagnostics port (port 0: none)
  double reportSeconds_ = 1;               // LOOM_TIMEOUT_REPORT
  uint64_t commId_ = 0;
  std::unique_ptr<Engine> engine_;
  bootstrap::Secret secret_{};
  std::optional<ControlPort> control_;
  std::vector<ControlAddress> controlOf_;  // every rank's control address
  uint64_t childSeq_ = 0;                  // splits and shrinks so far (equal on all members)
  bool checkCalls_ = false;                // LOOM_CHECK
  algo::AlgoOverride algoOverride_;
  size_t chunkBytes_ = 512 << 10;
  bool chunkForced_ = false;  // LOOM_CHUNK_SIZE set: the model does not choose chunk sizes
  cost::Tuning tuning_;
  cost::Placement placement_;
  topo::Topology topology_;
  uint64_t seq_ = 0;      // operations issued, for diagnostics
  uint64_t collSeq_ = 0;  // collectives issued (LOOM_CHECK numbering)

  mutable SpinLock mu_;  // guards the plan cache, picks, custom ops, last_ and seq_ (short work only)
  std::map<PlanKey, std::shared_ptr<const PreparedSchedule>> plans_;
  std::list<PlanKey> planOrder_;
  std::map<std::tuple<int, size_t, int>, Pick> picks_;  // (collective, count, type)
  std::vector<CustomOp> customOps_;
  LastCall last_;
};

// Identifies the host for transport choice: LOOM_HOST_ID, else hostname plus boot id.
std::string detectHostId();

}  // namespace loom::core

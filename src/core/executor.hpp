// Runs one rank's schedule over a Fabric: posts each step when its dependencies are done, keeps
// per-peer posting in step order (the FIFO matching rule of sched::Schedule), runs local Copy and
// Reduce steps inline, and reduces incoming data on arrival (RecvReduce). It knows nothing of
// which algorithm made the schedule.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/prepared.hpp"
#include "core/status.hpp"
#include "mem/reduce.hpp"
#include "transport/fabric.hpp"

namespace loom::core {

struct RunBuffers {
  uint8_t* input = nullptr;
  uint8_t* output = nullptr;
  uint8_t* scratch = nullptr;
};

// The per-run bookkeeping. An engine lends the same one to every run (one runs at a time), so a
// small call allocates nothing here once the vectors have grown.
struct RunMemory {
  std::vector<uint32_t> depsLeft;
  std::vector<uint8_t> ready;
  std::vector<transport::Completion> completions;
  std::vector<uint32_t> sendHead, recvHead;
  std::vector<uint32_t> inflight;
  std::vector<uint32_t> localQueue;
};

class ScheduleRun {
 public:
  // `memory` must outlive the run and serve one run at a time.
  ScheduleRun(const PreparedSchedule& prepared, RunBuffers buffers, transport::Fabric& fabric,
              mem::ReduceFn reduce, size_t elemSize, RunMemory& memory);
  // Cancels what is still posted (see abandon).
  ~ScheduleRun();
  ScheduleRun(const ScheduleRun&) = delete;
  ScheduleRun& operator=(const ScheduleRun&) = delete;

  // Drives the fabric once and everything that became possible; true if anything moved.
  bool advance();
  bool finished() const { return failed_ || done_ == prepared_.schedule.steps.size(); }
  const Status& status() const { return status_; }
  // Gives up: messages still posted are cancelled in the fabric with `why` (which fails the
  // fabric), so nothing writes into the buffers or completions once this run is gone.
  void abandon(const Status& why);
  // The messages still pending, for timeout diagnostics: "recv from rank 2 (512 bytes), ...".
  std::string pendingSummary() const;
  // The peers this rank still waits on (pending receives, or sends not yet matched).
  std::vector<int> pendingPeers() const;

 private:
  uint8_t* ptr(const sched::Span& s) const;
  void complete(uint32_t step);
  void becomeReady(uint32_t step);
  void postReady(int peer, bool sends);
  void runLocal(uint32_t step);
  void drainLocal();
  bool isNoOp(const sched::Step& st) const;  // an in-place copy: nothing to do
  bool hasLocalWork() const;  // a copy or reduction is queued that is not an in-place no-op
  void fail(Status s);

  const PreparedSchedule& prepared_;
  RunBuffers buffers_;
  transport::Fabric& fabric_;
  mem::ReduceFn reduce_;
  size_t elemSize_;

  RunMemory& m_;
  size_t done_ = 0;
  bool failed_ = false;
  Status status_;
};

}  // namespace loom::core

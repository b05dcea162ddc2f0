#include "core/communicator.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>

#include "core/calibrate.hpp"
#include "core/init_card.hpp"
#include "core/log.hpp"
#include "core/params.hpp"
#include "os/process.hpp"

namespace loom::core {

std::string detectHostId() {
  std::string forced = params::getString("LOOM_HOST_ID");
  if (!forced.empty()) return forced;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::string bootId;
  std::ifstream("/proc/sys/kernel/random/boot_id") >> bootId;
  return std::string(host) + "/" + bootId;
}

namespace {

transport::Kind transportChoice(Status* err) {
  std::string t = params::getString("LOOM_TRANSPORT");
  if (t == "auto" || t.empty()) return transport::Kind::Auto;
  if (t == "shm") return transport::Kind::Shm;
  if (t == "tcp") return transport::Kind::Tcp;
  *err = invalidArgument("LOOM_TRANSPORT='" + t + "' is not one of auto, shm, tcp");
  return transport::Kind::Auto;
}

// Spinning pays when every rank of this host has a core to itself: the peer answers within
// microseconds. With more ranks than cores a spinner only delays the peer it waits for, so sleep
// at once (measured on 2 cores: 4 ranks 8-byte allreduce 321 us with a 50 us spin, 109 us with none).
int usableCores() {
  // A rank bound to one CPU (loomrun --bind-to) shares the job's CPUs with its neighbours.
  if (const int64_t shared = params::getInt("LOOM_HOST_CPUS"); shared > 0) return static_cast<int>(shared);
  return static_cast<int>(os::allowedCpus().size());
}

int chooseSpinMicros(int configured, int ranksOnHost) {
  if (configured >= 0) return configured;
  return ranksOnHost <= usableCores() ? 1000 : 0;
}

// With more ranks than cores, sched_yield hands the core to the rank we wait for at once; a futex
// sleep and wake costs several scheduler round trips (4 ranks on 2 cores, 8-byte allreduce:
// 135-156 us sleeping at once, 20-26 us polling with sched_yield for up to 2 ms, 22 us for 20 ms).
int chooseYieldMicros(int configured, int ranksOnHost) {
  if (configured >= 0) return configured;
  return ranksOnHost > usableCores() ? 20000 : 0;
}

}  // namespace

Result<std::unique_ptr<Communicator>> Communicator::init(const loomUniqueId& id, int rank, int nranks) {
  std::unique_ptr<Communicator> comm(new Communicator(rank, nranks));
  Status s = comm->setUp(id);
  if (!s.isOk()) return s;
  return comm;
}

Status Communicator::setUp(const loomUniqueId& id) {
  Deadline deadline = Deadline::afterSeconds(params::getDouble("LOOM_INIT_TIMEOUT"));
  auto over = algo::parseAlgoOverride(params::getString("LOOM_ALGO"));
  if (!over.isOk()) return invalidArgument("LOOM_ALGO: " + over.status().message());
  algoOverride_ = std::move(over.value());
  chunkBytes_ = params::getBytes("LOOM_CHUNK_SIZE");
  chunkForced_ = std::getenv("LOOM_CHUNK_SIZE") != nullptr;
  if (chunkBytes_ < 64) return invalidArgument("LOOM_CHUNK_SIZE must be at least 64 bytes");

  auto boot = bootstrap::Bootstrap::join(id, rank_, nranks_, deadline);
  if (!boot.isOk()) return boot.takeStatus();

  transport::FabricConfig cfg;
  cfg.rank = rank_;
  cfg.nranks = nranks_;
  std::memcpy(cfg.secret, (*boot)->secret().data(), sizeof cfg.secret);
  // From the secret, not the whole id: under torchrun rank 0 may reach its own root through
  // another address than the others do, but every rank holds the same secret.
  const auto& secret = (*boot)->secret();
  cfg.commId = std::hash<std::string_view>{}(std::string_view(reinterpret_cast<const char*>(secret.data()), secret.size()));
  cfg.hostId = detectHostId();
  Status err;
  cfg.force = transportChoice(&err);
  LOOM_TRY(err);
  cfg.nsocks = static_cast<int>(params::getInt("LOOM_NSOCKS"));
  if (cfg.nsocks < 1 || cfg.nsocks > 64) return invalidArgument("LOOM_NSOCKS must be in 1..64");
  cfg.ifname = params::getString("LOOM_SOCKET_IFNAME");
  cfg.family = params::getString("LOOM_SOCKET_FAMILY");
  cfg.tcpBufferBytes = params::getBytes("LOOM_TCP_BUFFER_BYTES");
  cfg.tcpCongestion = params::getString("LOOM_TCP_CONGESTION");
  cfg.shmSlotBytes = params::getBytes("LOOM_SHM_SLOT_BYTES");
  cfg.shmSlots = static_cast<int>(params::getInt("LOOM_SHM_SLOTS"));
  cfg.boardBytes = params::getBytes("LOOM_SHM_BOARD_BYTES");
  cfg.boardDepth = static_cast<int>(params::getInt("LOOM_SHM_BOARD_DEPTH"));
  cfg.shmCmaBytes = params::getBytes("LOOM_SHM_CMA_BYTES");
  cfg.shmStreamStores = static_cast<int>(params::getInt("LOOM_SHM_STREAM_STORES"));
  const int spinSetting = static_cast<int>(params::getInt("LOOM_SPIN_US"));  // -1: choose below
  cfg.spinUs = std::max(spinSetting, 0);
  cfg.failureDetectSeconds = params::getDouble("LOOM_FAILURE_DETECT");
  cfg.checksum = params::getInt("LOOM_CHECKSUM") != 0;
  if (cfg.failureDetectSeconds <= 0) return invalidArgument("LOOM_FAILURE_DETECT must be positive");

  auto fabric = transport::Fabric::create(cfg);
  if (!fabric.isOk()) return fabric.takeStatus();
  fabric_ = std::move(fabric.value());
  auto control = ControlPort::reserve();
  if (!control.isOk()) return control.takeStatus();
  control_ = std::move(control.value());
  secret_ = (*boot)->secret();
  commId_ = cfg.commId;
  checkCalls_ = params::getInt("LOOM_CHECK") != 0;
  reportSeconds_ = params::getDouble("LOOM_TIMEOUT_REPORT");
  if (reportSeconds_ > 0) {
    auto diag = DiagService::start(secret_, commId_, rank_, board_);
    if (!diag.isOk()) return diag.takeStatus();
    diag_ = std::move(diag.value());
  }

  // Rank 0's tuning goes to everyone: every rank must predict the same costs.
  InitCard card{control_->address(), diag_ ? diag_->address() : ControlAddress{}, cfg.hostId, usableCores(),
                fabric_->address(), {}, {}};
  if (rank_ == 0) {
    auto tuning = loadOrCalibrate();
    if (!tuning.isOk()) return tuning.takeStatus();
    card.tuning = cost::toJson(tuning.value());
  }
  auto host = describeHost(cfg.hostId);
  if (!host.isOk()) return host.takeStatus();
  card.host = std::move(host.value());
  auto blobs = (*boot)->allGather(encodeCard(card), deadline);
  if (!blobs.isOk()) return blobs.takeStatus();
  std::vector<InitCard> cards;
  std::vector<std::string> addresses;
  int ranksOnHost = 0;
  for (int r = 0; r < nranks_; ++r) {
    auto peer = decodeCard(blobs.value()[r], r);
    if (!peer.isOk()) return peer.takeStatus();
    controlOf_.push_back(peer->control);
    diagOf_.push_back(peer->diag);
    ranksOnHost += peer->hostId == cfg.hostId;
    addresses.push_back(peer->fabric);
    cards.push_back(std::move(peer.value()));
  }
  auto tuning = cost::fromJson(cards[0].tuning);
  if (!tuning.isOk()) return remoteError("rank 0 sent a malformed tuning: " + tuning.status().message(), 0);
  tuning_ = tuning.value();
  LOOM_TRY(setUpTopology(cards));
  cfg.spinUs = chooseSpinMicros(spinSetting, ranksOnHost);
  fabric_->setSpinMicros(cfg.spinUs);
  fabric_->setYieldMicros(chooseYieldMicros(static_cast<int>(params::getInt("LOOM_YIELD_US")), ranksOnHost));
  const double probeGbps = params::getDouble("LOOM_SHM_ONEWAY_PROBE_GBPS");
  fabric_->setOneWayProbeBelow((probeGbps < 0 ? 1.5 * tuning_.singleCopyGbps : probeGbps) * 1e9);
  LOOM_TRY(fabric_->connect(addresses, deadline));
  // What the fabric has, the same on every rank.
  placement_.boardBytes = fabric_->boardBytes();
  placement_.shmCmaBytes = fabric_->singleCopyBytes();
  LOOM_TRY((*boot)->barrier(deadline));
  LOOM_TRY(fabric_->finishSetup());
  HangReport report;
  if (diag_) {
    report = [this](uint64_t seq, const std::function<bool()>& cancelled) {
      auto answers = askPeers(diagOf_, rank_, secret_, commId_, seq, Deadline::afterSeconds(reportSeconds_), cancelled);
      return describeHang(seq, reportSeconds_, answers);
    };
  }
  engine_ = std::make_unique<Engine>(*fabric_, rank_, params::getDouble("LOOM_TIMEOUT"), cfg.spinUs, board_.get(),
                                     std::move(report));
  LOOM_INFO("rank {}/{} ready", rank_, nranks_);
  return {};
}

Communicator::~Communicator() { shutdown(); }

void Communicator::shutdown() {
  if (engine_) engine_->drainAndStop();
  engine_.reset();
  diag_.reset();
  fabric_.reset();
}

void Communicator::abort() {
  if (engine_) engine_->abort(remoteError("communicator aborted (loomCommAbort)", -1));
  engine_.reset();
  diag_.reset();
  fabric_.reset();
}

}  // namespace loom::core

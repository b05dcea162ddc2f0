// The Fabric: set-up, the address blob, per-peer FIFOs, the self channel, waiting and failure.
//
// Every peer gets one channel chosen in connect(): "self" for our own rank (a local copy
// matching our sends to ourselves with our receives from ourselves, in order), "shm" for ranks
// with our host id, "tcp" for the others (LOOM_TRANSPORT forces one). progress() moves every
// channel without blocking; waitForActivity() sleeps on the shm doorbell (futex), on epoll, or
// alternates briefly when both kinds of peers have pending work, so neither starves.
#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/log.hpp"
#include "os/futex.hpp"
#include "os/process.hpp"
#include "transport/fabric_impl.hpp"

namespace loom::transport {

namespace {

std::string toHex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

bool fromHex(const std::string& h, std::string* out) {
  if (h.size() % 2) return false;
  out->clear();
  for (size_t i = 0; i < h.size(); i += 2) {
    auto v = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; };
    int a = v(h[i]), b = v(h[i + 1]);
    if (a < 0 || b < 0) return false;
    out->push_back(static_cast<char>(a * 16 + b));
  }
  return true;
}

// Hostname plus boot id: equal only for processes of one running kernel.
std::string detectHostId() {
  std::string boot;
  std::ifstream f("/proc/sys/kernel/random/boot_id");
  std::getline(f, boot);
  return os::hostName() + "/" + boot;
}

constexpr const char* kBlobTag = "loomfab1";

}  // namespace

Result<std::unique_ptr<Fabric>> Fabric::create(const FabricConfig& config) {
  if (config.nranks < 1 || config.rank < 0 || config.rank >= config.nranks)
    return invalidArgument(fmt::format("fabric rank {} of {} out of range", config.rank, config.nranks));
  if (config.nsocks < 1 || config.nsocks > 64) return invalidArgument(fmt::format("LOOM_NSOCKS={} (1..64)", config.nsocks));
  if (config.shmSlots < 2) return invalidArgument(fmt::format("LOOM_SHM_SLOTS={} (at least 2)", config.shmSlots));
  if (config.boardDepth < 0 || config.boardDepth > 4096)
    return invalidArgument(fmt::format("LOOM_SHM_BOARD_DEPTH={} (0..4096)", config.boardDepth));
  if (config.boardBytes > (1u << 20))
    return invalidArgument(fmt::format("LOOM_SHM_BOARD_BYTES={} (at most 1M)", config.boardBytes));
  auto f = std::make_unique<FabricImpl>(config);
  LOOM_TRY(f->init());
  return std::unique_ptr<Fabric>(std::move(f));
}

FabricImpl::FabricImpl(const FabricConfig& c) : cfg_(c), me_(c.rank), n_(c.nranks), peers_(c.nranks) {
  hostId_ = c.hostId.empty() ? detectHostId() : c.hostId;
  pidns_ = os::pidNamespaceId();
  // Whole cache lines per slot, so every fragment but a message's last is a multiple of 64.
  slotBytes_ = shmSlotBytes(c.shmSlotBytes);
  boardBytes_ = roundUp(c.boardBytes, wire::kLine);
  boardDepth_ = boardBytes_ ? static_cast<uint32_t>(c.boardDepth) : 0;
}

FabricImpl::~FabricImpl() {
  if (singleCopyBytes() && !shmPeers_.empty())
    LOOM_DEBUG("fabric rank {}: single-copy messages sent {}, single-copy messages read {}", me_, cmaSent_, cmaRead_);
  for (int r : shmPeers_) {
    const OneWayJudge& j = peers_[r].oneWay;
    if (j.rate(OneWayJudge::kRing) > 0 || j.rate(OneWayJudge::kSingle) > 0)
      LOOM_DEBUG("fabric rank {}: long one-way streams to rank {}: ring {:.2f} GB/s, single copy {:.2f} GB/s, now {}", me_, r,
                 j.rate(OneWayJudge::kRing) / 1e9, j.rate(OneWayJudge::kSingle) / 1e9,
                 j.way() == OneWayJudge::kSingle ? "single copy" : "ring");
    const StoreJudge& s = peers_[r].stores;
    if (s.rate(StoreJudge::kPlain) > 0)
      LOOM_DEBUG("fabric rank {}: slot copies to rank {}: plain stores {:.2f} GB/s, streaming {:.2f} GB/s, now {}", me_,
                 r, s.rate(StoreJudge::kPlain) / 1e9, s.rate(StoreJudge::kStream) / 1e9,
                 s.kind() == StoreJudge::kStream ? "streaming" : "plain");
  }
  if (boardReady_) LOOM_DEBUG("fabric rank {}: board calls {}", me_, boardCalls_);
  sayBye();
}

Status FabricImpl::init() {
  if (cfg_.force != Kind::Tcp && n_ > 1) LOOM_TRY(createSegment());
  if (cfg_.force != Kind::Shm && n_ > 1) LOOM_TRY(createListener());
  return Status::ok();
}

std::string FabricImpl::address() const {
  PeerAddress a;
  a.hostId = hostId_;
  a.pid = getpid();
  a.pidns = pidns_;
  if (ownSeg_.valid()) a.shmName = ownSeg_.name();
  if (listener_.valid()) {
    a.tcpHost = listenAddr_.host();
    a.port = listenAddr_.port();
  }
  return formatAddress(a);
}

std::string formatAddress(const PeerAddress& a) {
  return fmt::format("{} {} {} {} {} {} {}", kBlobTag, toHex(a.hostId), a.pid, a.pidns,
                     a.shmName.empty() ? "-" : a.shmName, a.tcpHost.empty() ? "-" : a.tcpHost, a.port);
}

Result<PeerAddress> parseAddress(const std::string& blob) {
  std::istringstream in(blob);
  std::string tag, host, shm, tcp;
  long long pid = 0;
  unsigned long long ns = 0;
  unsigned port = 0;
  if (!(in >> tag >> host >> pid >> ns >> shm >> tcp >> port) || tag != kBlobTag || port > 65535)
    return invalidArgument("malformed fabric address '" + blob.substr(0, 80) + "'");
  PeerAddress a;
  if (!fromHex(host, &a.hostId)) return invalidArgument("malformed host id in fabric address");
  a.pid = static_cast<pid_t>(pid);
  a.pidns = ns;
  if (shm != "-") a.shmName = shm;
  if (tcp != "-") a.tcpHost = tcp;
  a.port = static_cast<uint16_t>(port);
  return a;
}

Status FabricImpl::connect(const std::vector<std::string>& addresses, Deadline deadline) {
  if (static_cast<int>(addresses.size()) != n_)
    return invalidArgument(fmt::format("fabric connect got {} addresses for {} ranks", addresses.size(), n_));
  std::vector<PeerAddress> addrs;
  for (int r = 0; r < n_; ++r) {
    auto a = parseAddress(addresses[r]);
    if (!a) return Status(a.status().code(), fmt::format("rank {}: {}", r, a.status().message()), r);
    addrs.push_back(std::move(a.value()));
  }
  for (int r = 0; r < n_; ++r) {
    Peer& p = peers_[r];
    if (r == me_) {
      p.kind = PeerKind::Self;
      hasSelf_ = true;
      continue;
    }
    bool sameHost = addrs[r].hostId == hostId_;
    if (cfg_.force == Kind::Shm && !sameHost)
      return invalidUsage(fmt::format("LOOM_TRANSPORT=shm but rank {} is on another host", r));
    bool useShm = cfg_.force == Kind::Shm || (cfg_.force == Kind::Auto && sameHost);
    if (useShm && (addrs[r].shmName.empty() || !ownSeg_.valid()))
      return invalidUsage(fmt::format("rank {} has no shared memory segment (LOOM_TRANSPORT differs?)", r));
    if (!useShm && (addrs[r].tcpHost.empty() || !listener_.valid()))
      return invalidUsage(fmt::format("rank {} has no TCP listener (LOOM_TRANSPORT differs?)", r));
    p.kind = useShm ? PeerKind::Shm : PeerKind::Tcp;
    p.host = addrs[r].hostId.substr(0, addrs[r].hostId.find('/'));
    p.pid = addrs[r].pid;
    (useShm ? shmPeers_ : tcpPeers_).push_back(r);
  }
  for (int r : shmPeers_) LOOM_TRY(connectShm(r, addrs[r]));
  if (!tcpPeers_.empty()) LOOM_TRY(connectTcp(addrs, deadline));
  boardReady_ = boardDepth_ && !shmPeers_.empty() && tcpPeers_.empty();
  prefaultBoards();
  listener_.reset();  // every data connection exists now
  auto now = Clock::now();
  for (int r : tcpPeers_) {
    peers_[r].lastRecv = now;
    for (TcpSock& s : peers_[r].socks) s.lastSend = now;
  }
  nextCheck_ = now;
  LOOM_DEBUG("fabric rank {}: {} shm peers, {} tcp peers", me_, shmPeers_.size(), tcpPeers_.size());
  return Status::ok();
}

Status FabricImpl::finishSetup() {
  ownSeg_.unlink();
  return Status::ok();
}

const char* FabricImpl::transportOf(int peer) const {
  if (peer < 0 || peer >= n_) return "none";
  switch (peers_[peer].kind) {
    case PeerKind::Self: return "self";
    case PeerKind::Shm: return "shm";
    case PeerKind::Tcp: return "tcp";
    default: return "none";
  }
}

void FabricImpl::postSend(int peer, const void* buf, size_t bytes, Completion* done, bool atRest, bool peerCopies) {
  done->done = false;
  if (peer < 0 || peer >= n_ || peers_[peer].kind == PeerKind::None)
    return complete(done, invalidArgument(fmt::format("send to rank {} of a fabric of {} (not connected?)", peer, n_)));
  if (!status_.isOk()) return complete(done, status_);
  Peer& p = peers_[peer];
  SendOp op{static_cast<const char*>(buf), bytes, 0, 1, done};
  if (p.kind == PeerKind::Shm) {
    op.frag = shmFragBytes(bytes, p.out.slotBytes);
    op.fragsLeft = fragCount(bytes, op.frag);
    op.cma = atRest && wantsCma(p, bytes);
    op.cmaMayWait = op.cma && peerCopies;
  }
  if (p.kind == PeerKind::Tcp) op.fragsLeft = fragCount(bytes, wire::kTcpFragBytes);
  p.sends.push_back(op);
  if (p.kind == PeerKind::Tcp) queueTcpSend(p, p.sendBase + p.sends.size() - 1, bytes);
}

void FabricImpl::postRecv(int peer, size_t bytes, const RecvSink& sink, Completion* done) {
  done->done = false;
  if (peer < 0 || peer >= n_ || peers_[peer].kind == PeerKind::None)
    return complete(done, invalidArgument(fmt::format("receive from rank {} of a fabric of {} (not connected?)", peer, n_)));
  if (sink.reduce && (sink.elemSize == 0 || bytes % sink.elemSize))
    return complete(done, invalidArgument(fmt::format("reduce receive of {} bytes with element size {}", bytes, sink.elemSize)));
  if (!status_.isOk()) return complete(done, status_);
  Peer& p = peers_[peer];
  RecvOp op{sink, bytes, 0, 1, done};
  if (p.kind == PeerKind::Shm) {
    op.frag = shmFragBytes(bytes, p.in.slotBytes);
    op.fragsLeft = fragCount(bytes, op.frag);
  }
  if (p.kind == PeerKind::Tcp) op.fragsLeft = fragCount(bytes, wire::kTcpFragBytes);
  p.recvs.push_back(op);
  if (p.kind == PeerKind::Shm && !sink.reduce && singleCopyBytes() && bytes >= singleCopyBytes()) showCopyRecvs(p);
  if (p.kind == PeerKind::Tcp) queueTcpRecv(p, p.recvBase + p.recvs.size() - 1, bytes);
}

bool FabricImpl::progressSelf(Peer& p) {
  bool moved = false;
  while (!p.sends.empty() && !p.recvs.empty()) {
    SendOp& s = p.sends.front();
    RecvOp& r = p.recvs.front();
    if (s.bytes != r.bytes) {
      fail(remoteError(fmt::format("message size mismatch: rank {} sent {} bytes to itself, the receive expects {} bytes",
                                   me_, s.bytes, r.bytes), me_));
      return true;
    }
    deliver(r.sink, 0, s.buf, s.bytes);
    complete(s.done, Status::ok());
    complete(r.done, Status::ok());
    p.sends.pop_front();
    p.recvs.pop_front();
    ++p.sendBase;
    ++p.recvBase;
    moved = true;
  }
  return moved;
}

bool FabricImpl::progress() { return progressPass(false); }
bool FabricImpl::progressStarted() { return progressPass(true); }

bool FabricImpl::progressPass(bool busyLocally) {
  maybeCheckPeers();
  if (aborted_.load(std::memory_order_relaxed) && status_.isOk()) {
    fail(remoteError("aborted", -1));
    return true;
  }
  if (!status_.isOk()) return false;
  bool moved = false;
  if (hasSelf_) moved |= progressSelf(peers_[me_]);
  Clock::time_point now{};
  for (int r : shmPeers_) {
    if (!status_.isOk()) break;
    moved |= progressShm(r, peers_[r], &now, busyLocally);
  }
  if (moved) ringDueBells();
  if (!status_.isOk()) return true;
  if (!tcpPeers_.empty() && status_.isOk()) {
    bool pending = false;
    for (int r : tcpPeers_) pending |= !peers_[r].sends.empty() || !peers_[r].recvs.empty();
    if (pending) {
      pollTcp(0);
      for (int r : tcpPeers_) {
        if (!status_.isOk()) return true;
        moved |= progressTcp(r, peers_[r]);
      }
    }
  }
  movedSinceYield_ |= moved;
  return moved || !status_.isOk();
}

// With more ranks than cores (yieldUs > 0): poll `ready` and yield, so the rank that will answer
// gets the core, for yieldUs from the first wait after the last movement (not per call: callers
// loop on us). True when something is ready, a wake() came or the fabric was aborted.
template <typename Ready>
bool FabricImpl::yieldPoll(int timeoutMs, Ready ready) {
  if (cfg_.yieldUs <= 0) return false;
  const auto now = Clock::now();
  if (movedSinceYield_) {
    movedSinceYield_ = false;
    lastMoved_ = now;
  }
  auto yieldEnd = lastMoved_ + std::chrono::microseconds(cfg_.yieldUs);
  if (now >= yieldEnd) return false;
  yieldEnd = std::min(yieldEnd, now + std::chrono::milliseconds(timeoutMs));
  // The clock is read every fourth yield: a read costs a sixth of a yield on this VM, and the
  // bound is in milliseconds.
  for (unsigned i = 1;; ++i) {
    if (ready() || wakePending_.load(std::memory_order_relaxed) || aborted_.load(std::memory_order_relaxed)) return true;
    sched_yield();
    if ((i & 3) == 0 && Clock::now() >= yieldEnd) return false;
  }
}

void FabricImpl::waitForActivity(int timeoutMs) {
  checkPacer_.prime();  // the caller's next progress() reads the clock for liveness
  if (wakePending_.exchange(false) || aborted_.load() || !status_.isOk()) return;
  timeoutMs = std::min(timeoutMs, checkIntervalMs());  // the caller's next progress() checks peers
  if (boardWatch_ && !boardWatchRung_) timeoutMs = std::min(timeoutMs, 1);  // nobody rings for it
  bool tcpPend = false;
  bool shmPend = boardWatch_ != nullptr;  // a board call waits on a peer
  for (int r : shmPeers_) shmPend |= !peers_[r].sends.empty() || !peers_[r].recvs.empty();
  for (int r : tcpPeers_) tcpPend |= !peers_[r].sends.empty() || !peers_[r].recvs.empty();
  if (shmPend) {
    // Spin briefly: a peer on another core usually answers within microseconds. No spin at all
    // when ranks outnumber cores (spinUs 0): 64 pauses cost about 3 us on Skylake-class cores,
    // time the rank we wait for could have run in.
    if (cfg_.spinUs > 0) {
      auto end = Clock::now() + std::chrono::microseconds(cfg_.spinUs);
      for (unsigned i = 0;; ++i) {
        if (shmReady() || wakePending_.load(std::memory_order_relaxed)) return;
        if ((i & 63) == 63 && Clock::now() >= end) break;
#if defined(__x86_64__)
        __builtin_ia32_pause();
#endif
      }
    } else if (shmReady() || wakePending_.load(std::memory_order_relaxed)) {
      return;
    }
    if (tcpPend) {
      pollTcp(std::min(timeoutMs, 1));  // alternate; the caller loops
      return;
    }
    if (yieldPoll(timeoutMs, [this] { return shmReady(); })) return;
    // A dead shm peer never rings: come back to check liveness.
    return sleepOnBell(std::min(timeoutMs, 100));
  }
  if (tcpPend) {
    // As over shm, rather than sleep in epoll and pay a wake-up per message.
    if (yieldPoll(timeoutMs, [this] { return pollTcp(0) > 0; })) return;
    pollTcp(timeoutMs);
    return;
  }
  sleepOnBell(timeoutMs);  // nothing pending: only wake() or abort() matter
}

void FabricImpl::wake() {
  wakePending_.store(true);
  bell_->seq.fetch_add(1);
  os::futexWake(&bell_->seq);
  if (epoll_) epoll_->wake();
}

void FabricImpl::abort() {
  aborted_.store(true);
  wake();
}

void FabricImpl::fail(Status st) {
  revokeCma();  // before the sends complete: their callers may free the buffers at once
  if (status_.isOk()) {
    status_ = std::move(st);
    LOOM_DEBUG("fabric rank {} failed: {}", me_, status_.message());
  }
  for (Peer& p : peers_) {
    for (; !p.sends.empty(); p.sends.pop_front()) complete(p.sends.front().done, status_);
    for (; !p.recvs.empty(); p.recvs.pop_front()) complete(p.recvs.front().done, status_);
    for (TcpSock& s : p.socks) {
      // A frame half written stays on the stream, its payload copied (the caller may free its
      // buffer now): the peer can still parse the stream, and heartbeats can go on after it.
      bool orphan = s.sendDone > 0 && !s.sendFrags.empty();
      FragRef front = orphan ? s.sendFrags.front() : FragRef{};
      s.sendFrags.clear();
      if (orphan) {
        if (front.data != s.ownedPayload.data()) s.ownedPayload.assign(front.data, front.data + front.len);
        front.data = s.ownedPayload.data();
        front.seq = kNoOp;
        s.sendFrags.push_back(front);
      }
      s.recvFrags.clear();
      if (s.hdrChecked && !s.discard) {  // the rest of a frame being received is skipped
        s.discard = true;
        if (s.staging.size() < wire::kTcpFragBytes) s.staging.resize(wire::kTcpFragBytes);
      }
    }
  }
}

}  // namespace loom::transport

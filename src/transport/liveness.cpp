// Peer liveness: heartbeats and bye frames over tcp, process checks and a closed flag over shm.
//
// TCP: a socket on which we sent nothing for failureDetectSeconds/3 gets a heartbeat frame (a
// header alone, queued only when nothing else is, so it falls between data frames); a peer from
// which nothing (data or heartbeat) arrived for failureDetectSeconds is dead, unless a data
// header from it waits for a receive we have not posted (then it is we who are behind). EOF or
// a reset is a failure unless the peer said bye first: the destructor sends bye on every socket
// before closing. So a crash or kill -9 is seen at once (the kernel closes the sockets), a
// stopped process or a vanished host within failureDetectSeconds plus one check interval.
// Shm: the peer's pid is checked at every check (kill(pid, 0) plus the zombie state); the
// destructor sets a closed flag in its own segment first, so a clean exit is not a failure. A
// stopped shm peer is alive by this test: LOOM_TIMEOUT of the core covers that case.
// checkPeers() runs every check interval (min(100 ms, detect/10)) from progress() and
// waitForActivity() callers, and the core calls it when idle.
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "core/log.hpp"
#include "os/process.hpp"
#include "transport/fabric_impl.hpp"

namespace loom::transport {

namespace {
std::atomic<int> gCorrupt{0};
}  // namespace

void testhooks::corruptNextFragment() { gCorrupt.fetch_add(1); }

bool takeCorruption() {
  if (gCorrupt.load(std::memory_order_relaxed) == 0) return false;
  int v = gCorrupt.load();
  while (v > 0 && !gCorrupt.compare_exchange_weak(v, v - 1)) {
  }
  return v > 0;
}

int FabricImpl::checkIntervalMs() const {
  double ms = cfg_.failureDetectSeconds * 100.0;  // a tenth of the bound
  return static_cast<int>(std::clamp(ms, 5.0, 100.0));
}

std::string FabricImpl::who(int rank) const {
  const Peer& p = peers_[rank];
  return fmt::format("rank {} (host {}, pid {})", rank, p.host.empty() ? "?" : p.host, p.pid);
}

std::vector<int> FabricImpl::failedPeers() const {
  std::vector<int> out = failed_;
  std::sort(out.begin(), out.end());
  return out;
}

void FabricImpl::markDead(int rank, const std::string& how) {
  Peer& p = peers_[rank];
  if (p.dead) return;
  p.dead = true;
  failed_.push_back(rank);
  std::string msg = fmt::format("{} failed: {}", who(rank), how);
  LOOM_WARN("fabric rank {}: {}", me_, msg);
  for (TcpSock& s : p.socks) {  // nothing more to say to it, nothing to hear
    s.eof = true;
    s.fd.reset();
  }
  fail(remoteError(std::move(msg), rank));
}

void FabricImpl::tcpBroken(int rank, Peer& p, TcpSock& s, const std::string& how) {
  s.eof = true;
  s.readable = s.writable = false;
  bool pending = !s.recvFrags.empty();
  for (size_t i = 0; i < s.sendFrags.size(); ++i) pending |= s.sendFrags[i].seq != kNoOp;
  s.sendFrags.clear();
  s.fd.reset();
  if (p.dead) return;
  if (s.byeSeen || p.closed) {  // a clean close: only a problem for work that can never finish
    if (pending)
      fail(remoteError(fmt::format("{} closed its communicator while messages to or from it were pending (tcp {}: {})",
                                   who(rank), p.where, how), rank));
    return;
  }
  markDead(rank, fmt::format("{} without goodbye (tcp {})", how, p.where));
}

void FabricImpl::maybeCheckPeers() {
  if (tcpPeers_.empty() && shmPeers_.empty()) return;
  // A busy poll loop calls us millions of times a second: read the clock only when the pacer says
  // so (check_pacer.hpp), and on the first call after a wait (waitForActivity primes it).
  if (!checkPacer_.due()) return;
  if (Clock::now() >= nextCheck_) checkPeers();
}

void FabricImpl::checkPeers() {
  auto now = Clock::now();
  nextCheck_ = now + std::chrono::milliseconds(checkIntervalMs());
  for (int r : shmPeers_) checkShmPeer(r, peers_[r]);
  if (!tcpPeers_.empty() && epoll_) {
    pollTcp(0);
    for (int r : tcpPeers_) checkTcpPeer(r, peers_[r], now);
  }
}

void FabricImpl::checkShmPeer(int rank, Peer& p) {
  if (p.dead || p.closed) return;
  if (p.live && p.live->closed.load(std::memory_order_acquire)) {
    p.closed = true;
    return;
  }
  if (!p.pidCheckable || os::processAlive(p.pid)) return;
  if (p.live && p.live->closed.load(std::memory_order_acquire)) {  // closed, then exited
    p.closed = true;
    return;
  }
  markDead(rank, "process exited (shm)");
}

void FabricImpl::checkTcpPeer(int rank, Peer& p, Clock::time_point now) {
  if (p.dead) return;
  // Read first: heartbeats that queued up while we were busy prove the peer alive. A frame
  // held for its receive (or read ahead) is looked at again even when the socket is empty: after
  // a failure it is discarded, so that the peer's silence behind it counts again.
  for (TcpSock& s : p.socks) {
    if (!s.eof && (s.readable || s.holding())) tcpRecv(rank, p, s);
    if (p.dead) return;
  }
  const auto beat = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(cfg_.failureDetectSeconds / 3));
  bool open = false, held = false;
  for (TcpSock& s : p.socks) {
    if (s.eof) continue;
    open = true;
    held |= s.holding();
    if (s.byeSeen) continue;
    if (s.sendFrags.empty() && now - s.lastSend >= beat) {
      FragRef hb{kNoOp, 0, 0};
      hb.type = wire::FrameType::Heartbeat;
      hb.crcDone = true;
      s.sendFrags.push_back(hb);
    }
    if (!s.sendFrags.empty() && s.writable) tcpSend(rank, p, s);
    if (p.dead) return;
  }
  if (!open || held || p.closed) return;
  double quiet = std::chrono::duration<double>(Clock::now() - p.lastRecv).count();
  if (quiet > cfg_.failureDetectSeconds)
    markDead(rank, fmt::format("nothing received for {:.1f} s, heartbeats included (LOOM_FAILURE_DETECT={}; tcp {})", quiet,
                               cfg_.failureDetectSeconds, p.where));
}

// Destructor: tell every peer this is a clean close.
void FabricImpl::sayBye() {
  if (ownLive_) ownLive_->closed.store(1, std::memory_order_release);
  auto deadline = Deadline::after(std::chrono::milliseconds(200));  // never hang in a destructor
  for (int r : tcpPeers_) {
    Peer& p = peers_[r];
    if (p.dead) continue;
    for (TcpSock& s : p.socks) {
      if (s.eof || !s.fd.valid() || s.sendDone != 0) continue;  // mid-frame: a bye would garble the stream
      wire::Frame bye{};
      bye.magic = wire::kFrameMagic;
      bye.type = static_cast<uint8_t>(wire::FrameType::Bye);
      if (!os::writeAll(s.fd.get(), &bye, sizeof bye, deadline).isOk()) continue;
      // Unread input would make close() send a reset, which may overtake the bye: drain it.
      char sink[4096];
      for (int i = 0; i < 256 && ::recv(s.fd.get(), sink, sizeof sink, MSG_DONTWAIT) > 0; ++i) {
      }
      ::shutdown(s.fd.get(), SHUT_WR);
    }
  }
}

}  // namespace loom::transport

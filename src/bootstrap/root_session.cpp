// The bootstrap root server.
//
// One thread, one epoll set: the listening socket, a wake-up eventfd, and every accepted
// connection (nonblocking, with an input buffer and an output queue). A connection is a
// stranger until its first frame, a hello, proves the job secret; strangers may send at most
// kMaxHelloBytes, so garbage or a huge length from them costs nothing. Authenticated ranks
// then contribute to rounds of all-gather; when all nranks have contributed round k, every
// rank receives the vector of blobs. Any job-level error (a duplicate rank, disagreement on
// nranks, a rank leaving mid-round, a deadline) is sent to every connected rank as an error
// frame, so all processes fail with the same message instead of hanging.
//
// This file: the event loop, accepting, buffered nonblocking I/O and timers.
#include "bootstrap/root_session.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "core/log.hpp"
#include "os/net.hpp"

namespace loom::bootstrap::detail {

std::string Session::who(const Conn& c) const {
  if (c.rank < 0) return c.peer;
  return fmt::format("rank {} (pid {} on {})", c.rank, claims_[c.rank].pid, claims_[c.rank].host);
}

int Session::openRankConns() const {
  int n = 0;
  for (const auto& [fd, c] : conns_) n += c->authed ? 1 : 0;
  return n;
}

void Session::send(Conn& c, std::shared_ptr<const std::string> bytes) {
  c.out.emplace_back(std::move(bytes), 0);
  flush(c);
}

void Session::flush(Conn& c) {
  while (!c.out.empty()) {
    auto& [buf, off] = c.out.front();
    ssize_t n = ::send(c.fd, buf->data() + off, buf->size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += static_cast<size_t>(n);
      if (off == buf->size()) c.out.pop_front();
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    c.out.clear();  // the peer is gone; its EPOLLHUP/EOF will close it
    break;
  }
  epoll_.modify(c.fd, EPOLLIN | EPOLLRDHUP | (c.out.empty() ? 0u : static_cast<uint32_t>(EPOLLOUT)),
                static_cast<uint64_t>(c.fd));
}

void Session::acceptAll() {
  for (;;) {
    int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) LOOM_WARN("bootstrap root: accept failed: {}", errno);
      return;
    }
    os::setNoDelay(fd);
    auto c = std::make_unique<Conn>();
    c->fd = fd;
    c->peer = wire::peerName(fd);
    c->accepted = Clock::now();
    epoll_.add(fd, EPOLLIN | EPOLLRDHUP, static_cast<uint64_t>(fd));
    conns_.emplace(fd, std::move(c));
  }
}

void Session::closeConn(int fd) {
  auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  Conn& c = *it->second;
  int rank = c.rank;
  bool gaveUp = c.toldTimeout;
  epoll_.remove(fd);
  ::close(fd);
  std::string name = who(c);
  conns_.erase(it);
  if (rank < 0) return;
  rankFd_[rank] = -1;
  left_[rank] = true;
  if (failure_ || contributed_ == 0) return;
  // A rank leaving after its own deadline passed is a timeout, and the others should hear
  // about the ranks that caused it rather than about the one that gave up first.
  if (gaveUp)
    fail(timeoutError(fmt::format("bootstrap round {} timed out: {} ({} gave up at its deadline)", round_,
                                  missingText(), name)));
  else
    fail(remoteError(fmt::format("{} disconnected during bootstrap round {}", name, round_), rank));
}

void Session::onReadable(Conn& c) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      c.in.append(buf, static_cast<size_t>(n));
      // Parse every complete frame; validate lengths before waiting for a body.
      for (;;) {
        size_t avail = c.in.size() - c.inPos;
        if (avail < wire::kHeaderBytes) break;
        const char* h = c.in.data() + c.inPos;
        wire::FrameHeader fh;
        if (!wire::parseFrameHeader(h, c.authed ? wire::kMaxFrameBytes : wire::kMaxHelloBytes, &fh)) {
          LOOM_WARN("bootstrap root: invalid frame from {} (type {}, length {}); closing it", who(c), wire::loadLe32(h),
                    wire::loadLe32(h + 4));
          return closeConn(c.fd);
        }
        const uint32_t len = fh.length;
        if (avail < wire::kHeaderBytes + len) break;
        std::string_view payload(h + wire::kHeaderBytes, len);
        c.inPos += wire::kHeaderBytes + len;
        int fd = c.fd;
        if (!handleFrame(c, fh.type, payload)) return closeConn(fd);
        if (!conns_.count(fd)) return;
      }
      if (c.inPos == c.in.size()) { c.in.clear(); c.inPos = 0; }
      else if (c.inPos > (1u << 20)) { c.in.erase(0, c.inPos); c.inPos = 0; }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    return closeConn(c.fd);  // EOF or error
  }
}

Clock::time_point Session::nextTimer() const {
  Clock::time_point t = Clock::time_point::max();
  if (failure_) return failedAt_ + kFailureLinger;
  if (!allJoined()) t = std::min(t, start_ + timeout_);
  if (contributed_ > 0) t = std::min(t, roundStart_ + timeout_);
  for (const auto& [fd, c] : conns_) {
    t = std::min(t, c->waitUntil);
    if (!c->authed) t = std::min(t, c->accepted + kStrangerIdle);
  }
  return t;
}

void Session::checkTimers(Clock::time_point now) {
  std::vector<int> stale;
  for (auto& [fd, c] : conns_) {
    if (!c->authed && now >= c->accepted + kStrangerIdle) stale.push_back(fd);
    if (c->waitUntil <= now) {
      c->waitUntil = Clock::time_point::max();
      c->toldTimeout = true;
      send(*c, errorFrame(timeoutError(fmt::format("bootstrap round {} timed out: {}", round_, missingText()))));
    }
  }
  for (int fd : stale) closeConn(fd);
  if (failure_) return;
  double secs = std::chrono::duration<double>(timeout_).count();
  if (contributed_ > 0 && now >= roundStart_ + timeout_)
    fail(timeoutError(fmt::format("bootstrap round {} timed out after {:g} s (LOOM_INIT_TIMEOUT): {}", round_, secs,
                                  missingText())));
  else if (!allJoined() && now >= start_ + timeout_) {
    std::vector<int> never;
    for (int q = 0; q < nranks_; ++q)
      if (claims_[q].host.empty()) never.push_back(q);
    fail(timeoutError(never.empty() ? fmt::format("bootstrap timed out after {:g} s: no rank connected", secs)
                                    : fmt::format("bootstrap timed out after {:g} s (LOOM_INIT_TIMEOUT): {} never connected",
                                                  secs, wire::rankList(never))));
  }
}

void Session::run() {
  if (Status s = epoll_.add(listenFd_, EPOLLIN, static_cast<uint64_t>(listenFd_)); !s.isOk()) {
    LOOM_WARN("bootstrap root: {}", s.message());
    return;
  }
  epoll_event events[64];
  for (;;) {
    if (stop_) {
      bool pending = false;
      for (const auto& [fd, c] : conns_) pending = pending || !c->out.empty();
      if (!pending || Clock::now() >= drainUntil_) break;
    }
    auto now = Clock::now();
    auto next = nextTimer();
    if (stop_) next = std::min(next, drainUntil_);
    int waitMs = next == Clock::time_point::max()
                     ? 1000
                     : static_cast<int>(std::clamp<int64_t>(
                           std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1, 0, 1000));
    int n = epoll_.wait(events, 64, waitMs);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == os::Epoll::kWakeTag) {
        // Stopping (process exit): flush what is queued, e.g. the last round, then end.
        if (!stop_) drainUntil_ = Clock::now() + kDrainOnStop;
        stop_ = true;  // Epoll::wait consumed the wake-up
        continue;
      }
      int fd = static_cast<int>(events[i].data.u64);
      if (fd == listenFd_) { acceptAll(); continue; }
      auto it = conns_.find(fd);
      if (it == conns_.end()) continue;
      if (events[i].events & EPOLLOUT) flush(*it->second);
      if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) onReadable(*it->second);
    }
    checkTimers(Clock::now());
    // Done: every rank came and went (no round pending), or after a failure everyone hung up.
    bool ranksGone = openRankConns() == 0;
    if (!failure_ && allJoined() && ranksGone && contributed_ == 0) break;
    // After a failure, stay a while so that ranks arriving late still get the error.
    if (failure_ && ((ranksGone && allJoined()) || Clock::now() >= failedAt_ + kFailureLinger)) break;
  }
  for (auto& [fd, c] : conns_) {
    epoll_.remove(fd);
    ::close(fd);
  }
  conns_.clear();
  epoll_.remove(listenFd_);
}

}  // namespace loom::bootstrap::detail

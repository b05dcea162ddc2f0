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
#include "bootstrap/root_server.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "bootstrap/wire.hpp"
#include "core/log.hpp"

namespace loom::bootstrap {

namespace {

using namespace std::chrono_literals;
using wire::FrameType;
constexpr auto kStrangerIdle = 10s;   // an unauthenticated connection is dropped after this
constexpr auto kFailureLinger = 10s;  // after a failure, wait this long for ranks to hang up
constexpr auto kDrainOnStop = 2s;     // at process exit, time to flush queued frames
constexpr int kMaxRanks = 1 << 20;

struct Conn {
  int fd = -1;
  std::string peer;
  std::string in;
  size_t inPos = 0;
  std::deque<std::pair<std::shared_ptr<const std::string>, size_t>> out;
  bool authed = false;
  int rank = -1;  // -1 for strangers and for hellos answered only with an error
  Clock::time_point accepted{};
  Clock::time_point waitUntil = Clock::time_point::max();  // the client's own deadline
  bool toldTimeout = false;  // its deadline passed and it got the timeout error
};

struct Claim {
  int pid = 0;
  std::string host;
};

class Session {
 public:
  Session(int listenFd, int wakeFd, const Secret& secret, double timeoutSec)
      : listenFd_(listenFd), wakeFd_(wakeFd), secret_(secret),
        timeout_(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeoutSec))) {}
  void run();

 private:
  void acceptAll();
  void onReadable(Conn& c);
  void flush(Conn& c);
  void send(Conn& c, std::shared_ptr<const std::string> bytes);
  void closeConn(int fd);
  bool handleFrame(Conn& c, FrameType type, std::string_view payload);  // false: close c
  bool handleHello(Conn& c, std::string_view payload);
  void handleContribute(Conn& c, std::string_view payload);
  void completeRound();
  void fail(Status s);
  std::shared_ptr<const std::string> errorFrame(const Status& s);
  std::string missingText() const;
  void checkTimers(Clock::time_point now);
  bool allJoined() const { return nranks_ > 0 && joined_ == nranks_; }
  int openRankConns() const;
  Clock::time_point nextTimer() const;
  std::string who(const Conn& c) const;

  int listenFd_, wakeFd_, ep_ = -1;
  Secret secret_;
  Clock::duration timeout_;
  Clock::time_point start_ = Clock::now();
  std::unordered_map<int, std::unique_ptr<Conn>> conns_;
  bool stop_ = false;
  Clock::time_point drainUntil_{};

  int nranks_ = -1;
  int joined_ = 0;
  std::vector<Claim> claims_;  // per rank, once connected
  std::vector<int> rankFd_;    // -1 when not connected (or gone)
  std::vector<bool> left_;
  uint32_t round_ = 0;
  std::vector<std::optional<std::string>> blobs_;
  int contributed_ = 0;
  Clock::time_point roundStart_{};
  std::optional<Status> failure_;
  Clock::time_point failedAt_{};
};

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
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | (c.out.empty() ? 0u : static_cast<uint32_t>(EPOLLOUT));
  ev.data.fd = c.fd;
  ::epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
}

void Session::acceptAll() {
  for (;;) {
    int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) LOOM_WARN("bootstrap root: accept failed: {}", errno);
      return;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto c = std::make_unique<Conn>();
    c->fd = fd;
    c->peer = wire::peerName(fd);
    c->accepted = Clock::now();
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = fd;
    ::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
    conns_.emplace(fd, std::move(c));
  }
}

void Session::closeConn(int fd) {
  auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  Conn& c = *it->second;
  int rank = c.rank;
  bool gaveUp = c.toldTimeout;
  ::epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
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
        uint32_t type = wire::loadLe32(h), len = wire::loadLe32(h + 4);
        uint32_t limit = c.authed ? wire::kMaxFrameBytes : wire::kMaxHelloBytes;
        if (type < 1 || type > 5 || len > limit - wire::kHeaderBytes) {
          LOOM_WARN("bootstrap root: invalid frame from {} (type {}, length {}); closing it", who(c), type, len);
          return closeConn(c.fd);
        }
        if (avail < wire::kHeaderBytes + len) break;
        std::string_view payload(h + wire::kHeaderBytes, len);
        c.inPos += wire::kHeaderBytes + len;
        int fd = c.fd;
        if (!handleFrame(c, static_cast<FrameType>(type), payload)) return closeConn(fd);
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

bool Session::handleFrame(Conn& c, FrameType type, std::string_view payload) {
  if (!c.authed) {
    if (type != FrameType::Hello) {
      LOOM_WARN("bootstrap root: {} sent frame type {} before a hello; closing it", c.peer, int(type));
      return false;
    }
    return handleHello(c, payload);
  }
  if (type != FrameType::Contribute || c.rank < 0) {
    LOOM_WARN("bootstrap root: unexpected frame type {} from {}; closing it", int(type), who(c));
    return false;
  }
  if (!failure_) handleContribute(c, payload);
  return true;
}

bool Session::handleHello(Conn& c, std::string_view payload) {
  wire::Reader r(payload);
  uint32_t magic = 0, version = 0;
  std::string_view secret, host;
  int32_t rank = 0, nranks = 0, pid = 0;
  if (!r.u32(&magic) || !r.u32(&version) || !r.bytes(16, &secret) || !r.i32(&rank) || !r.i32(&nranks) ||
      !r.i32(&pid) || !r.str(&host, 256) || !r.done() || magic != wire::kHelloMagic) {
    LOOM_WARN("bootstrap root: malformed hello from {}; closing it", c.peer);
    return false;
  }
  unsigned char diff = 0;  // constant-time comparison
  for (size_t i = 0; i < 16; ++i) diff |= static_cast<unsigned char>(secret[i]) ^ secret_[i];
  if (diff != 0) {
    LOOM_WARN("bootstrap root: connection from {} presented a wrong secret (an id from another job?); closing it",
              c.peer);
    return false;
  }
  if (version != wire::kProtocolVersion) {
    LOOM_WARN("bootstrap root: {} speaks protocol {} (expected {}); closing it", c.peer, version,
              wire::kProtocolVersion);
    return false;
  }
  c.authed = true;
  if (failure_) {
    send(c, errorFrame(*failure_));
    return true;
  }
  std::string claimant = fmt::format("pid {} on {}", pid, host);
  if (nranks <= 0 || nranks > kMaxRanks) {
    fail(invalidUsage(fmt::format("{} joined with nranks={}, which is out of range", claimant, nranks)));
    send(c, errorFrame(*failure_));
    return true;
  }
  if (nranks_ < 0) {
    nranks_ = nranks;
    claims_.resize(nranks);
    rankFd_.assign(nranks, -1);
    left_.assign(nranks, false);
    blobs_.assign(nranks, std::nullopt);
  } else if (nranks != nranks_) {
    fail(invalidUsage(fmt::format("rank {} ({}) says nranks={} but earlier ranks said {}", rank, claimant, nranks,
                                  nranks_)));
    send(c, errorFrame(*failure_));
    return true;
  }
  if (rank < 0 || rank >= nranks_) {
    fail(invalidUsage(fmt::format("rank {} ({}) is out of range for {} ranks", rank, claimant, nranks_)));
    send(c, errorFrame(*failure_));
    return true;
  }
  if (claims_[rank].pid != 0 || !claims_[rank].host.empty()) {
    fail(invalidUsage(fmt::format("rank {} claimed by two processes: pid {} on {} and pid {} on {}", rank,
                                  claims_[rank].pid, claims_[rank].host, pid, host)));
    send(c, errorFrame(*failure_));
    return true;
  }
  claims_[rank] = {pid, host.empty() ? std::string(1, '?') : std::string(host)};
  c.rank = rank;
  rankFd_[rank] = c.fd;
  ++joined_;
  wire::Writer w;
  w.i32(nranks_);
  send(c, std::make_shared<const std::string>(wire::frame(FrameType::Welcome, w.out())));
  return true;
}

void Session::handleContribute(Conn& c, std::string_view payload) {
  wire::Reader r(payload);
  uint32_t round = 0, waitMs = 0;
  if (!r.u32(&round) || !r.u32(&waitMs)) return fail(remoteError(fmt::format("{} sent a malformed round", who(c)), c.rank));
  if (round != round_ || blobs_[c.rank])
    return fail(remoteError(fmt::format("{} sent round {} while the rendezvous is at round {}{}", who(c), round, round_,
                                        blobs_[c.rank] ? " (twice)" : ""),
                            c.rank));
  if (contributed_ == 0) {
    roundStart_ = Clock::now();
    for (int q = 0; q < nranks_; ++q)
      if (left_[q])
        return fail(remoteError(fmt::format("{} started round {} but rank {} already left the rendezvous", who(c),
                                            round_, q),
                                q));
  }
  blobs_[c.rank] = std::string(r.rest());
  ++contributed_;
  if (waitMs != wire::kNoDeadline) {
    // Answer just before the client's own deadline so its error can name the missing ranks.
    auto margin = std::min<std::chrono::milliseconds>(100ms, std::chrono::milliseconds(waitMs / 5));
    c.waitUntil = Clock::now() + std::chrono::milliseconds(waitMs) - margin;
  }
  if (contributed_ == nranks_) completeRound();
}

void Session::completeRound() {
  size_t total = wire::kHeaderBytes + 8;
  for (const auto& b : blobs_) total += 4 + b->size();
  if (total > wire::kMaxFrameBytes)
    return fail(invalidUsage(fmt::format("bootstrap round {} gathers {} bytes, over the {} MiB frame limit", round_,
                                         total, wire::kMaxFrameBytes >> 20)));
  wire::Writer w;
  w.out().reserve(total);
  w.u32(round_);
  w.u32(static_cast<uint32_t>(nranks_));
  for (const auto& b : blobs_) w.str(*b);
  auto bytes = std::make_shared<const std::string>(wire::frame(FrameType::Gathered, w.out()));
  for (int q = 0; q < nranks_; ++q) {
    auto it = conns_.find(rankFd_[q]);
    if (rankFd_[q] >= 0 && it != conns_.end()) {
      it->second->waitUntil = Clock::time_point::max();
      send(*it->second, bytes);
    }
    blobs_[q].reset();
  }
  contributed_ = 0;
  ++round_;
}

std::shared_ptr<const std::string> Session::errorFrame(const Status& s) {
  wire::Writer w;
  w.u32(static_cast<uint32_t>(s.code()));
  w.str(s.message());
  return std::make_shared<const std::string>(wire::frame(FrameType::Error, w.out()));
}

void Session::fail(Status s) {
  if (failure_) return;
  LOOM_WARN("bootstrap root: {}", s.message());
  failure_ = std::move(s);
  failedAt_ = Clock::now();
  auto bytes = errorFrame(*failure_);
  for (auto& [fd, c] : conns_)
    if (c->authed) send(*c, bytes);
}

std::string Session::missingText() const {
  std::vector<int> never, behind;
  for (int q = 0; q < nranks_; ++q) {
    if (blobs_[q]) continue;
    (claims_[q].host.empty() ? never : behind).push_back(q);
  }
  std::string out;
  if (!never.empty()) out = wire::rankList(never) + " never connected";
  if (!behind.empty())
    out += fmt::format("{}{} never reached round {}", out.empty() ? "" : "; ", wire::rankList(behind), round_);
  return out;
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
  ep_ = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listenFd_;
  ::epoll_ctl(ep_, EPOLL_CTL_ADD, listenFd_, &ev);
  ev.data.fd = wakeFd_;
  ::epoll_ctl(ep_, EPOLL_CTL_ADD, wakeFd_, &ev);
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
    int n = ::epoll_wait(ep_, events, 64, waitMs);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == wakeFd_) {
        // Stopping (process exit): flush what is queued, e.g. the last round, then end.
        if (!stop_) drainUntil_ = Clock::now() + kDrainOnStop;
        stop_ = true;
        uint64_t v;
        [[maybe_unused]] ssize_t k = ::read(wakeFd_, &v, sizeof v);
        continue;
      }
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
  for (auto& [fd, c] : conns_) ::close(fd);
  conns_.clear();
  ::close(ep_);
}

}  // namespace

Result<std::shared_ptr<RootServer>> RootServer::start(const sockaddr_storage& addr, const Secret& secret,
                                                      double timeoutSec, Deadline bindDeadline) {
  int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return systemError("bootstrap root: socket", errno);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  for (int backoffMs = 20;; backoffMs = std::min(backoffMs * 2, 500)) {
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), wire::lengthOf(addr)) == 0) break;
    int err = errno;
    if (err != EADDRINUSE || bindDeadline.expired()) {
      ::close(fd);
      return systemError(fmt::format("bootstrap root: bind {}:{}", wire::numericHost(addr), wire::portOf(addr)), err);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(backoffMs, bindDeadline.remainingMs())));
  }
  if (::listen(fd, SOMAXCONN) != 0) {
    int err = errno;
    ::close(fd);
    return systemError("bootstrap root: listen", err);
  }
  std::shared_ptr<RootServer> root(new RootServer());
  root->listenFd_ = fd;
  socklen_t len = sizeof root->bound_;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&root->bound_), &len);
  root->wakeFd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  root->secret_ = secret;
  root->timeoutSec_ = timeoutSec > 0 ? timeoutSec : 1e9;
  root->thread_ = std::thread([r = root.get()] { r->run(); });
  return root;
}

void RootServer::run() {
  Session(listenFd_, wakeFd_, secret_, timeoutSec_).run();
  ::close(listenFd_);  // refuse late connections at once
  finished_.store(true);
}

void RootServer::stop() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wakeFd_, &one, sizeof one);
    thread_.join();
  }
}

RootServer::~RootServer() {
  stop();
  if (wakeFd_ >= 0) ::close(wakeFd_);
}

namespace {
struct Registry {
  std::mutex mu;
  std::vector<std::shared_ptr<RootServer>> roots;
  ~Registry() {
    std::lock_guard lock(mu);
    for (auto& r : roots) r->stop();
  }
};
Registry& registry() {
  static Registry r;
  return r;
}
}  // namespace

void registerRoot(std::shared_ptr<RootServer> root) {
  auto& reg = registry();
  std::lock_guard lock(reg.mu);
  std::erase_if(reg.roots, [](const auto& r) { return r->finished(); });  // finished: join via destructor
  reg.roots.push_back(std::move(root));
}

int liveRootCount() {
  auto& reg = registry();
  std::lock_guard lock(reg.mu);
  int n = 0;
  for (auto& r : reg.roots) n += r->finished() ? 0 : 1;
  return n;
}

}  // namespace loom::bootstrap

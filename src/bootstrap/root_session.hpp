// The bootstrap root's per-rendezvous state machine (private to src/bootstrap): the Session
// one root thread runs. root_session.cpp holds its event loop and connection I/O,
// root_protocol.cpp the handling of hellos, rounds and failures; root_server.cpp starts and
// stops the threads.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bootstrap/bootstrap.hpp"
#include "bootstrap/wire.hpp"
#include "os/epoll.hpp"

namespace loom::bootstrap::detail {

using namespace std::chrono_literals;
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

// One rendezvous, served by one thread until every rank came and went, a failure was told to
// everyone, or the process exits (an Epoll::wake()). Epoll tags are file descriptors.
class Session {
 public:
  Session(int listenFd, os::Epoll& epoll, const Secret& secret, double timeoutSec)
      : listenFd_(listenFd), epoll_(epoll), secret_(secret),
        timeout_(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeoutSec))) {}
  void run();

 private:
  using FrameType = wire::FrameType;
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
  int listenFd_;
  os::Epoll& epoll_;
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
}  // namespace loom::bootstrap::detail

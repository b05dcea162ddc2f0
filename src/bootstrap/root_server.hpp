// The bootstrap root: a single background thread serving one communicator's rendezvous.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "bootstrap/bootstrap.hpp"
#include "os/epoll.hpp"
#include "os/net.hpp"

namespace loom::bootstrap {

class RootServer {
 public:
  // Binds addr (port 0 = any free port), listens and starts the serving thread. `timeoutSec`
  // bounds the join phase and each round (LOOM_INIT_TIMEOUT). EADDRINUSE is retried until
  // `bindDeadline` (a previous rendezvous on the same fixed port may still be ending).
  static Result<std::shared_ptr<RootServer>> start(const os::SockAddr& addr, const Secret& secret,
                                                   double timeoutSec, Deadline bindDeadline);
  ~RootServer();
  RootServer(const RootServer&) = delete;
  RootServer& operator=(const RootServer&) = delete;

  const os::SockAddr& boundAddress() const { return bound_; }
  bool finished() const { return finished_.load(); }
  void stop();  // asks the thread to end and joins it; idempotent

 private:
  RootServer() = default;
  void run();

  os::UniqueFd listen_;
  os::Epoll epoll_;  // the listener, the connections and the wake-up that stop() sends
  os::SockAddr bound_;
  Secret secret_{};
  double timeoutSec_ = 60;
  std::atomic<bool> finished_{false};
  std::thread thread_;
};

// createRootAt that retries a busy port until bindDeadline (used by fromEnvironment).
Result<loomUniqueId> createRootAtUntil(const std::string& host, uint16_t port, const Secret& secret,
                                       Deadline bindDeadline);

// Keeps started roots alive until they finish; stops the rest at process exit.
void registerRoot(std::shared_ptr<RootServer> root);
// Test hook: how many registered roots are still serving.
int liveRootCount();

}  // namespace loom::bootstrap

// Starting and stopping bootstrap roots: each RootServer owns a listening socket and an epoll
// set and runs one detail::Session (root_session.hpp) on its own thread; a process-wide
// registry keeps roots alive until they finish and stops the rest at exit.
#include "bootstrap/root_server.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <vector>

#include <fmt/format.h>

#include "bootstrap/root_session.hpp"

namespace loom::bootstrap {

Result<std::shared_ptr<RootServer>> RootServer::start(const os::SockAddr& addr, const Secret& secret,
                                                      double timeoutSec, Deadline bindDeadline) {
  os::SockAddr bound;
  Result<os::UniqueFd> fd = os::UniqueFd();
  for (int backoffMs = 20;; backoffMs = std::min(backoffMs * 2, 500)) {
    fd = os::listenTcp(addr, &bound, SOMAXCONN);
    if (fd) break;
    const Status& s = fd.status();
    if (s.sysErrno() != EADDRINUSE || bindDeadline.expired())
      return Status(s.code(), "bootstrap root: " + s.message(), s.peer(), s.sysErrno());
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(backoffMs, bindDeadline.remainingMs())));
  }
  auto ep = os::Epoll::create();
  if (!ep) return Status(ep.status().code(), "bootstrap root: " + ep.status().message(), -1, ep.status().sysErrno());
  std::shared_ptr<RootServer> root(new RootServer());
  root->listen_ = std::move(*fd);
  root->epoll_ = std::move(*ep);
  root->bound_ = bound;
  root->secret_ = secret;
  root->timeoutSec_ = timeoutSec > 0 ? timeoutSec : 1e9;
  root->thread_ = std::thread([r = root.get()] { r->run(); });
  return root;
}

void RootServer::run() {
  detail::Session(listen_.get(), epoll_, secret_, timeoutSec_).run();
  listen_.reset();  // refuse late connections at once
  finished_.store(true);
}

void RootServer::stop() {
  if (thread_.joinable()) {
    epoll_.wake();
    thread_.join();
  }
}

RootServer::~RootServer() { stop(); }

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

// The rank side of the rendezvous, and the public entry points that start a root.
//
// A rank connects (retrying until its deadline: the root may start later), says hello with
// the secret, waits for a welcome, then runs all-gather rounds: send {round, time left,
// blob}, wait for the gathered vector or an error frame. The root answers each round just
// before the rank's deadline if it cannot complete, naming the ranks that are missing.
#include <netinet/in.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include <fmt/format.h>

#include "bootstrap/bootstrap.hpp"
#include "bootstrap/root_server.hpp"
#include "bootstrap/wire.hpp"
#include "core/log.hpp"
#include "core/params.hpp"
#include "os/net.hpp"
#include "os/process.hpp"

namespace loom::bootstrap {

namespace {

using wire::FrameType;

class TcpBootstrap final : public Bootstrap {
 public:
  TcpBootstrap(os::UniqueFd fd, std::string root, Secret secret, int rank, int nranks)
      : fd_(std::move(fd)), root_(std::move(root)), secret_(secret), rank_(rank), nranks_(nranks) {}

  Result<std::vector<std::string>> allGather(const std::string& mine, Deadline deadline) override {
    if (!failure_.isOk()) return failure_;
    if (mine.size() > wire::kMaxFrameBytes - 64)
      return invalidArgument(fmt::format("bootstrap blob of {} bytes exceeds the frame limit", mine.size()));
    int left = deadline.remainingMs(0x7FFFFFFF);
    uint32_t waitMs = deadline.at() == Clock::time_point::max() ? wire::kNoDeadline : static_cast<uint32_t>(left);
    auto result = exchange(wire::frame(FrameType::Contribute, wire::encodeContribution(round_, waitMs, mine)), deadline);
    if (!result) failure_ = result.status();
    return result;
  }

  Status barrier(Deadline deadline) override {
    auto r = allGather(std::string(), deadline);
    return r ? Status::ok() : r.takeStatus();
  }
  const Secret& secret() const override { return secret_; }
  int rank() const override { return rank_; }
  int nranks() const override { return nranks_; }

 private:
  Result<std::vector<std::string>> exchange(const std::string& out, Deadline deadline) {
    std::string who = "bootstrap root at " + root_;
    LOOM_TRY(wire::sendAll(fd_.get(), out, deadline));
    auto f = wire::recvFrame(fd_.get(), wire::kMaxFrameBytes, deadline, who);
    if (!f) {
      Status s = f.takeStatus();
      if (s.code() == loomTimeout)
        return timeoutError(fmt::format("rank {}: bootstrap round {} got no answer from the root at {} before the deadline",
                                        rank_, round_, root_));
      return s;
    }
    if (f->type == FrameType::Error) return wire::decodeError(f->payload, root_);
    std::vector<std::string> all;
    auto parsed = f->type == FrameType::Gathered
                      ? wire::parseGathered(f->payload, round_, static_cast<uint32_t>(nranks_), &all)
                      : wire::GatherParse::Unexpected;
    if (parsed == wire::GatherParse::Unexpected)
      return remoteError(fmt::format("{} sent an unexpected answer to round {}", who, round_), -1);
    if (parsed == wire::GatherParse::Truncated) return remoteError(who + " sent a truncated gather", -1);
    ++round_;
    return all;
  }

  os::UniqueFd fd_;
  std::string root_;
  Secret secret_;
  int rank_, nranks_;
  uint32_t round_ = 0;
  Status failure_;
};

}  // namespace

Result<std::unique_ptr<Bootstrap>> Bootstrap::join(const loomUniqueId& id, int rank, int nranks, Deadline deadline) {
  auto decoded = decodeId(id);
  if (!decoded) return decoded.takeStatus();
  if (nranks <= 0 || rank < 0 || rank >= nranks)
    return invalidArgument(fmt::format("rank {} of {} ranks is out of range", rank, nranks));
  const RendezvousId& rid = *decoded;
  std::string root = rid.host.find(':') != std::string::npos ? fmt::format("[{}]:{}", rid.host, rid.port)
                                                              : fmt::format("{}:{}", rid.host, rid.port);
  wire::Hello h;
  h.secret = rid.secret;
  h.rank = rank;
  h.nranks = nranks;
  h.pid = static_cast<int32_t>(::getpid());
  h.host = os::hostName();
  std::string hello = wire::frame(FrameType::Hello, wire::encodeHello(h));

  // A root that closes on us during the hello rejected our secret; that may be a previous
  // rendezvous still ending on the same fixed port, so retry until the deadline.
  Status last;
  bool rejected = false;
  for (int backoffMs = 20;; backoffMs = std::min(backoffMs * 2, 500)) {
    auto fd = wire::connectWithRetry(rid.host, rid.port, deadline);
    if (!fd && !rejected) return fd.takeStatus();
    if (!fd) break;  // the root that rejected us has ended
    Status s = wire::sendAll(fd->get(), hello, deadline);
    Result<wire::Frame> f = s.isOk() ? wire::recvFrame(fd->get(), wire::kMaxFrameBytes, deadline, "bootstrap root at " + root)
                                     : Result<wire::Frame>(s);
    if (f && f->type == FrameType::Welcome) {
      int32_t n = 0;
      if (!wire::parseWelcome(f->payload, &n) || n != nranks)
        return remoteError(fmt::format("bootstrap root at {} welcomed rank {} into {} ranks, expected {}", root, rank, n,
                                       nranks),
                           -1);
      return std::unique_ptr<Bootstrap>(new TcpBootstrap(std::move(*fd), root, rid.secret, rank, nranks));
    }
    fd->reset();
    if (f && f->type == FrameType::Error) return wire::decodeError(f->payload, root);
    if (f) return remoteError(fmt::format("bootstrap root at {} answered the hello with frame {}", root, int(f->type)), -1);
    last = f.takeStatus();
    rejected = rejected || last.code() == loomRemoteError;
    if (last.code() == loomTimeout || deadline.expired()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(backoffMs, deadline.remainingMs())));
  }
  if (rejected)
    return remoteError(fmt::format("rank {}: the bootstrap root at {} refused the hello until the deadline (wrong "
                                   "secret: a unique id from another job?)",
                                   rank, root),
                       -1);
  return timeoutError(fmt::format("rank {}: no welcome from the bootstrap root at {} before the deadline", rank, root));
}

namespace {

Result<loomUniqueId> startRoot(const os::SockAddr& addr, const Secret& secret, Deadline bindDeadline,
                               const std::string& joinHost) {
  auto root = RootServer::start(addr, secret, params::getDouble("LOOM_INIT_TIMEOUT"), bindDeadline);
  if (!root) return root.takeStatus();
  RendezvousId id;
  id.host = joinHost.empty() ? (*root)->boundAddress().host() : joinHost;
  id.port = (*root)->boundAddress().port();
  id.secret = secret;
  registerRoot(std::move(*root));
  LOOM_DEBUG("bootstrap root listening on {}:{}", id.host, id.port);
  return encodeId(id);
}

}  // namespace

Result<loomUniqueId> createRoot() {
  // The same choice as the TCP transport's (os::selectInterface), from the same knobs.
  auto itf = os::selectInterface(params::getString("LOOM_SOCKET_IFNAME"), params::getString("LOOM_SOCKET_FAMILY"));
  if (!itf) return itf.takeStatus();
  Secret secret{};
  size_t got = 0;
  while (got < secret.size()) {
    ssize_t n = ::getrandom(secret.data() + got, secret.size() - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return systemError("getrandom", errno);
    got += static_cast<size_t>(n);
  }
  os::SockAddr addr = itf->addr;
  addr.setPort(0);
  return startRoot(addr, secret, Deadline::after(std::chrono::milliseconds(0)), "");
}

// Internal variant used by fromEnvironment: retries a busy port until bindDeadline.
Result<loomUniqueId> createRootAtUntil(const std::string& host, uint16_t port, const Secret& secret,
                                       Deadline bindDeadline) {
  auto addr = wire::resolve(host, port, AF_UNSPEC);
  if (!addr) return addr.takeStatus();
  auto id = startRoot(*addr, secret, bindDeadline, "");
  if (id || id.status().sysErrno() != EADDRNOTAVAIL) return id;
  // host is not an address of this machine (NAT, a name for a load balancer): listen on the
  // wildcard address of its family and join through loopback.
  bool v4 = addr->family() == AF_INET;
  auto any = os::SockAddr::parse(v4 ? "0.0.0.0" : "::", port);
  if (!any) return any.takeStatus();
  return startRoot(*any, secret, bindDeadline, v4 ? "127.0.0.1" : "::1");
}

Result<loomUniqueId> createRootAt(const std::string& host, uint16_t port, const Secret& secret) {
  return createRootAtUntil(host, port, secret, Deadline::after(std::chrono::milliseconds(0)));
}

}  // namespace loom::bootstrap

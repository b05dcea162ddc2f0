// TCP connection set-up: every rank listens on one address of the chosen interface; rank i
// connects nsocks times to every TCP peer j < i and accepts from every j > i. Each new
// connection opens with a Hello {magic, version, socket index, rank, nranks, nsocks, commId,
// secret}; the acceptor checks it and answers with its own Hello, which the connector checks
// in turn. Strangers (wrong secret or communicator, garbage, short or early-closed frames) are
// closed with a warning naming their address while the wait for the real peers goes on.
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <set>

#include <fmt/ranges.h>

#include "core/log.hpp"
#include "transport/fabric_impl.hpp"

namespace loom::transport {

Status FabricImpl::createListener() {
  auto itf = os::selectInterface(cfg_.ifname, cfg_.family);
  if (!itf) return itf.takeStatus();
  os::SockAddr a = itf->addr;
  a.setPort(0);
  auto fd = os::listenTcp(a, &listenAddr_, 1024);
  if (!fd) return fd.takeStatus();
  listener_ = std::move(fd.value());
  os::setBufferSizes(listener_.get(), cfg_.tcpBufferBytes);  // inherited by accepted sockets
  // So is the congestion control, which must be chosen before the handshake: switched on a
  // connected socket, BBR's pacing stayed (a 512 KiB allgather 52 -> 83-87 us). "auto" accepts
  // with cubic and hands a connection from another machine back to the system's choice.
  if (const std::string cc = listenerCongestion(); !cc.empty() && !os::setCongestionControl(listener_.get(), cc))
    LOOM_WARN("LOOM_TCP_CONGESTION={}: the kernel refused it ({}); see "
              "/proc/sys/net/ipv4/tcp_allowed_congestion_control", cc, std::strerror(errno));
  auto ep = os::Epoll::create();
  if (!ep) return ep.takeStatus();
  epoll_.emplace(std::move(ep.value()));
  LOOM_DEBUG("fabric rank {} listens on {} ({})", me_, listenAddr_.toString(), itf->name);
  return Status::ok();
}

namespace {

wire::Hello makeHello(const FabricConfig& c, int sockIndex) {
  wire::Hello h{};
  h.magic = wire::kHelloMagic;
  h.version = wire::kVersion;
  h.sockIndex = static_cast<uint16_t>(sockIndex);
  h.rank = c.rank;
  h.nranks = c.nranks;
  h.nsocks = static_cast<uint32_t>(c.nsocks);
  h.commId = c.commId;
  std::memcpy(h.secret, c.secret, sizeof h.secret);
  return h;
}

struct Outgoing {
  int peer = -1;
  int index = 0;
  os::SockAddr addr;
  os::UniqueFd fd;
  bool connecting = false;  // else: hello sent, awaiting the answer
  Clock::time_point retryAt{};
  wire::Hello answer{};
  size_t got = 0;
  bool done = false;
};

struct Incoming {
  os::UniqueFd fd;
  std::string from;
  wire::Hello hello{};
  size_t got = 0;
};

}  // namespace

std::string checkHello(const wire::Hello& h, const FabricConfig& c) {
  if (h.magic != wire::kHelloMagic) return "not a Loom connection (bad magic)";
  if (h.version != wire::kVersion) return fmt::format("protocol version {} (we speak {})", h.version, wire::kVersion);
  if (std::memcmp(h.secret, c.secret, sizeof h.secret) != 0) return "wrong secret";
  if (h.commId != c.commId) return fmt::format("other communicator {:016x}", h.commId);
  if (h.nranks != c.nranks || static_cast<int>(h.nsocks) != c.nsocks)
    return fmt::format("mismatched nranks/nsocks {}/{} (ours {}/{})", h.nranks, h.nsocks, c.nranks, c.nsocks);
  if (h.rank < 0 || h.rank >= c.nranks || h.sockIndex >= h.nsocks) return "rank or socket index out of range";
  return {};
}

// LOOM_TCP_CONGESTION. "auto": cubic on connections within this machine. Under this VM's
// default, BBR, tcp between two ranks ran 512 KiB-2 MiB messages 1.5-2x slower in any call after
// one that moved 2 MiB or more each way (2-rank allgather of 512 KiB 52 -> 85-115 us); under
// cubic it did not.
std::string FabricImpl::listenerCongestion() const {
  const std::string& want = cfg_.tcpCongestion;
  if (want == "system" || want.empty()) return {};
  return want == "auto" ? "cubic" : want;
}

std::string FabricImpl::congestionTo(const os::SockAddr& peer, const std::vector<os::Interface>& local) const {
  if (cfg_.tcpCongestion != "auto") return listenerCongestion();
  return os::isLocalAddress(peer, local) ? "cubic" : std::string{};
}

Status FabricImpl::connectTcp(const std::vector<PeerAddress>& addrs, Deadline deadline) {
  const int ns = cfg_.nsocks;
  std::vector<Outgoing> outs;
  std::vector<Incoming> ins;
  int expectIn = 0;
  for (int j : tcpPeers_) {
    Peer& p = peers_[j];
    p.socks.resize(ns);
    auto sa = os::SockAddr::parse(addrs[j].tcpHost, addrs[j].port);
    if (!sa) return Status(sa.status().code(), fmt::format("rank {}: {}", j, sa.status().message()), j);
    p.where = sa->toString();
    if (j < me_)
      for (int k = 0; k < ns; ++k) {
        Outgoing o;
        o.peer = j;
        o.index = k;
        o.addr = sa.value();
        outs.push_back(std::move(o));
      }
    else
      expectIn += ns;
  }
  // Each socket's congestion control follows congestionTo; an accepted one inherited the
  // listener's and is switched only where that differs (a connection from another machine under
  // "auto"). Interfaces and the system's default are read once for the whole setup.
  const std::vector<os::Interface> local = os::listInterfaces();
  const std::string listenerCc = listenerCongestion();
  std::string systemCc;
  auto adoptCongestion = [&](int fd, const os::SockAddr& from) {
    std::string want = congestionTo(from, local);
    if (want == listenerCc) return;
    if (want.empty()) {
      if (systemCc.empty()) systemCc = os::defaultCongestionControl();
      want = systemCc;
    }
    os::setCongestionControl(fd, want);
  };
  auto install = [&](int peer, int idx, os::UniqueFd fd) -> Status {
    os::setNoDelay(fd.get());
    os::setBufferSizes(fd.get(), cfg_.tcpBufferBytes);
    TcpSock& s = peers_[peer].socks[idx];
    s.fd = std::move(fd);
    uint64_t tag = sockOfTag_.size();
    sockOfTag_.emplace_back(peer, idx);
    return epoll_->add(s.fd.get(), EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, tag);
  };
  auto startConnect = [&](Outgoing& o) -> Status {
    bool inProgress = false;
    auto fd = os::connectTcp(o.addr, &inProgress, cfg_.tcpBufferBytes, congestionTo(o.addr, local));
    if (!fd) return Status(fd.status().code(), fmt::format("rank {}: {}", o.peer, fd.status().message()), o.peer);
    o.fd = std::move(fd.value());
    o.connecting = true;
    o.got = 0;
    return Status::ok();
  };
  for (auto& o : outs) LOOM_TRY(startConnect(o));

  int outLeft = static_cast<int>(outs.size()), inLeft = expectIn;
  std::vector<pollfd> pfds;
  while (outLeft > 0 || inLeft > 0) {
    if (deadline.expired()) {
      std::set<int> missing;
      for (auto& o : outs)
        if (!o.done) missing.insert(o.peer);
      for (int j : tcpPeers_)
        if (j > me_)
          for (auto& s : peers_[j].socks)
            if (!s.fd.valid()) missing.insert(j);
      return timeoutError(fmt::format("rank {} timed out setting up TCP connections: rank(s) {} never connected (we listen on {})",
                                      me_, fmt::join(missing, ", "), listenAddr_.toString()));
    }
    pfds.clear();
    pfds.push_back({listener_.get(), POLLIN, 0});
    for (auto& o : outs) pfds.push_back({o.done || !o.fd.valid() ? -1 : o.fd.get(), static_cast<short>(o.connecting ? POLLOUT : POLLIN), 0});
    for (auto& in : ins) pfds.push_back({in.fd.get(), POLLIN, 0});
    ::poll(pfds.data(), pfds.size(), deadline.remainingMs(50));
    auto now = Clock::now();

    for (size_t i = 0; i < outs.size(); ++i) {
      Outgoing& o = outs[i];
      if (o.done) continue;
      if (!o.fd.valid()) {
        if (now >= o.retryAt) LOOM_TRY(startConnect(o));
        continue;
      }
      short ev = pfds[1 + i].revents;
      if (!ev) continue;
      if (o.connecting) {
        int err = os::socketError(o.fd.get());
        if (err == EINPROGRESS || err == EALREADY) continue;
        if (err != 0) {
          // The listener exists before addresses are published, so this is transient.
          LOOM_DEBUG("connect to rank {} at {}: {}; retrying", o.peer, o.addr.toString(), std::strerror(err));
          o.fd.reset();
          o.retryAt = now + std::chrono::milliseconds(50);
          continue;
        }
        wire::Hello h = makeHello(cfg_, o.index);
        Status st = os::writeAll(o.fd.get(), &h, sizeof h, deadline.remainingMs(5000));
        if (!st) return remoteError(fmt::format("sending hello to rank {} at {}: {}", o.peer, o.addr.toString(), st.message()), o.peer);
        o.connecting = false;
        continue;
      }
      ssize_t r = ::recv(o.fd.get(), reinterpret_cast<char*>(&o.answer) + o.got, sizeof o.answer - o.got, 0);
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (r <= 0)
        return remoteError(fmt::format("rank {} at {} closed the connection during the handshake (refused our secret?)", o.peer,
                                       o.addr.toString()), o.peer);
      o.got += static_cast<size_t>(r);
      if (o.got < sizeof o.answer) continue;
      std::string why = checkHello(o.answer, cfg_);
      if (why.empty() && o.answer.rank != o.peer) why = fmt::format("it claims rank {}", o.answer.rank);
      if (!why.empty()) return remoteError(fmt::format("rank {} at {} answered badly: {}", o.peer, o.addr.toString(), why), o.peer);
      LOOM_TRY(install(o.peer, o.index, std::move(o.fd)));
      o.done = true;
      --outLeft;
    }

    for (size_t i = 0; i < ins.size();) {
      Incoming& in = ins[i];
      bool drop = false, keep = true;
      if (pfds[1 + outs.size() + i].revents) {
        ssize_t r = ::recv(in.fd.get(), reinterpret_cast<char*>(&in.hello) + in.got, sizeof in.hello - in.got, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
        } else if (r <= 0) {
          LOOM_WARN("fabric rank {}: connection from {} closed before its hello; ignored", me_, in.from);
          drop = true;
        } else if ((in.got += static_cast<size_t>(r)) == sizeof in.hello) {
          std::string why = checkHello(in.hello, cfg_);
          int j = in.hello.rank;
          if (why.empty() && (j <= me_ || peers_[j].kind != PeerKind::Tcp)) why = fmt::format("rank {} should not connect to us", j);
          if (why.empty() && peers_[j].socks[in.hello.sockIndex].fd.valid())
            why = fmt::format("duplicate socket {} of rank {}", in.hello.sockIndex, j);
          if (!why.empty()) {
            LOOM_WARN("fabric rank {}: refused connection from {}: {}", me_, in.from, why);
            drop = true;
          } else {
            wire::Hello h = makeHello(cfg_, in.hello.sockIndex);
            Status st = os::writeAll(in.fd.get(), &h, sizeof h, deadline.remainingMs(5000));
            if (!st) {
              LOOM_WARN("fabric rank {}: answering rank {} at {}: {}", me_, j, in.from, st.message());
              drop = true;
            } else {
              LOOM_TRY(install(j, in.hello.sockIndex, std::move(in.fd)));
              --inLeft;
              keep = false;
            }
          }
        }
      }
      if (drop || !keep) {
        ins.erase(ins.begin() + static_cast<long>(i));
        pfds.erase(pfds.begin() + static_cast<long>(1 + outs.size() + i));
      } else {
        ++i;
      }
    }

    if (pfds[0].revents) {
      for (;;) {
        os::SockAddr from;
        from.len = sizeof from.storage;
        int fd = ::accept4(listener_.get(), from.get(), &from.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        adoptCongestion(fd, from);
        ins.push_back(Incoming{os::UniqueFd(fd), from.toString()});
      }
    }
  }
  return Status::ok();
}

}  // namespace loom::transport

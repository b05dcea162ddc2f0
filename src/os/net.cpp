#include "os/net.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

namespace loom::os {

uint16_t SockAddr::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  return 0;
}

void SockAddr::setPort(uint16_t port) {
  if (family() == AF_INET) reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
  if (family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
}

std::string SockAddr::host() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, buf, sizeof buf);
  else if (family() == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, buf, sizeof buf);
  else return "?";
  return buf;
}

std::string SockAddr::toString() const {
  if (family() == AF_INET6) return "[" + host() + "]:" + std::to_string(port());
  return host() + ":" + std::to_string(port());
}

Result<SockAddr> SockAddr::parse(const std::string& hostIn, uint16_t port) {
  std::string host = hostIn;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  SockAddr a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    a.len = sizeof(sockaddr_in);
    return a;
  }
  std::string scope;
  if (auto pct = host.find('%'); pct != std::string::npos) {
    scope = host.substr(pct + 1);
    host.resize(pct);
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    if (!scope.empty()) {
      unsigned idx = if_nametoindex(scope.c_str());
      v6->sin6_scope_id = idx ? idx : static_cast<uint32_t>(std::strtoul(scope.c_str(), nullptr, 10));
    }
    a.len = sizeof(sockaddr_in6);
    return a;
  }
  return invalidArgument("not a numeric IPv4 or IPv6 address: '" + hostIn + "'");
}

std::vector<Interface> listInterfaces() {
  std::vector<Interface> out, linkLocal;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* p = list; p; p = p->ifa_next) {
    if (!p->ifa_addr || !(p->ifa_flags & IFF_UP)) continue;
    int fam = p->ifa_addr->sa_family;
    if (fam != AF_INET && fam != AF_INET6) continue;
    Interface itf;
    itf.name = p->ifa_name;
    itf.loopback = (p->ifa_flags & IFF_LOOPBACK) != 0;
    itf.addr.len = fam == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    std::memcpy(&itf.addr.storage, p->ifa_addr, itf.addr.len);
    bool ll = fam == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&reinterpret_cast<sockaddr_in6*>(p->ifa_addr)->sin6_addr);
    (ll ? linkLocal : out).push_back(std::move(itf));
  }
  freeifaddrs(list);
  // Link-local IPv6 needs a scope that means nothing on another host: only as a last resort.
  out.insert(out.end(), linkLocal.begin(), linkLocal.end());
  return out;
}

bool interfaceMatches(const std::string& specIn, const std::string& name) {
  if (specIn.empty()) return true;
  std::string spec = specIn;
  bool exclude = false, exact = false;
  if (spec[0] == '^') { exclude = true; spec.erase(0, 1); }
  if (!spec.empty() && spec[0] == '=') { exact = true; spec.erase(0, 1); }
  bool hit = false;
  std::stringstream ss(spec);
  for (std::string item; std::getline(ss, item, ',');) {
    // NCCL accepts "eth0:port" items; the port means nothing for choosing an interface.
    if (auto colon = item.find(':'); colon != std::string::npos) item.resize(colon);
    if (item.empty()) continue;
    if (exact ? name == item : name.compare(0, item.size(), item) == 0) { hit = true; break; }
  }
  return exclude ? !hit : hit;
}

namespace {
bool linkLocal(const SockAddr& a) {
  return a.family() == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_addr);
}
}  // namespace

Result<Interface> selectInterface(const std::string& spec, const std::string& family) {
  int want = AF_UNSPEC;
  if (family == "AF_INET" || family == "inet" || family == "ipv4" || family == "4") want = AF_INET;
  else if (family == "AF_INET6" || family == "inet6" || family == "ipv6" || family == "6") want = AF_INET6;
  else if (!family.empty()) return invalidArgument("LOOM_SOCKET_FAMILY='" + family + "' (expected AF_INET or AF_INET6)");
  auto all = listInterfaces();
  auto ok = [&](const Interface& i) { return want == AF_UNSPEC || i.addr.family() == want; };
  // IPv4 first unless a family is forced; listInterfaces already puts link-local IPv6 last.
  auto firstOf = [&](auto&& accept) -> const Interface* {
    for (int pass = 0; pass < 2; ++pass)
      for (const auto& i : all) {
        if (!ok(i) || !accept(i)) continue;
        if (pass == 0 && want == AF_UNSPEC && i.addr.family() != AF_INET) continue;
        return &i;
      }
    return nullptr;
  };
  if (!spec.empty()) {
    if (auto* i = firstOf([&](const Interface& i) { return interfaceMatches(spec, i.name); })) return *i;
    return invalidArgument("no up interface matches LOOM_SOCKET_IFNAME='" + spec + "'" +
                           (family.empty() ? "" : " with family " + family));
  }
  // Default: a real network interface, not a container or VM bridge (their addresses are
  // unreachable from other hosts), and no link-local IPv6 (its scope means nothing
  // elsewhere); then loopback; then link-local as a last resort.
  auto* pick = firstOf([](const Interface& i) {
    return !i.loopback && !linkLocal(i.addr) && interfaceMatches(kDefaultIfnameExclude, i.name);
  });
  if (!pick) pick = firstOf([](const Interface& i) { return i.loopback; });
  if (!pick) pick = firstOf([](const Interface& i) { return interfaceMatches(kDefaultIfnameExclude, i.name); });
  if (pick) return *pick;
  if (want != AF_INET6) {
    // getifaddrs showed nothing usable (a bare network namespace): loopback is still worth a try.
    Interface lo;
    lo.name = "lo";
    lo.loopback = true;
    auto* in = reinterpret_cast<sockaddr_in*>(&lo.addr.storage);
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    lo.addr.len = sizeof(sockaddr_in);
    return lo;
  }
  return invalidArgument("no usable network interface of family " + family);
}

Status setNonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return systemError("fcntl(O_NONBLOCK)", errno);
  return Status::ok();
}

void setNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void setBufferSizes(int fd, size_t bytes) {
  // 0 leaves the kernel's default, which it tunes as the connection runs; setting 0 would pin
  // the buffers to the kernel's minimum (a few KiB) and crawl.
  if (bytes == 0) return;
  int v = static_cast<int>(bytes);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
}

bool setCongestionControl(int fd, const std::string& name) {
  return setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name.data(), static_cast<socklen_t>(name.size())) == 0;
}

std::string congestionControl(int fd) {
  char name[32] = {};
  socklen_t len = sizeof name - 1;
  if (getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, &len) != 0) return {};
  return std::string(name, strnlen(name, len));
}

std::string defaultCongestionControl() {
  std::string name;
  std::ifstream("/proc/sys/net/ipv4/tcp_congestion_control") >> name;
  return name;
}

bool isLocalAddress(const SockAddr& a, const std::vector<Interface>& interfaces) {
  if (a.family() == AF_INET && (ntohl(reinterpret_cast<const sockaddr_in*>(a.get())->sin_addr.s_addr) >> 24) == 127)
    return true;
  if (a.family() == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(a.get())->sin6_addr))
    return true;
  const std::string host = a.host();
  for (const Interface& itf : interfaces)
    if (itf.addr.host() == host) return true;
  return false;
}

Result<UniqueFd> listenTcp(const SockAddr& addr, SockAddr* bound, int backlog) {
  UniqueFd fd(socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return systemError("socket", errno);
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd.get(), addr.get(), addr.len) != 0) return systemError("bind " + addr.toString(), errno);
  if (listen(fd.get(), backlog) != 0) return systemError("listen " + addr.toString(), errno);
  if (bound) {
    bound->len = sizeof bound->storage;
    if (getsockname(fd.get(), bound->get(), &bound->len) != 0) return systemError("getsockname", errno);
  }
  return fd;
}

Result<UniqueFd> connectTcp(const SockAddr& addr, bool* inProgress, size_t bufferBytes,
                            const std::string& congestion) {
  UniqueFd fd(socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return systemError("socket", errno);
  setBufferSizes(fd.get(), bufferBytes);
  if (!congestion.empty()) setCongestionControl(fd.get(), congestion);
  *inProgress = false;
  if (connect(fd.get(), addr.get(), addr.len) != 0) {
    if (errno != EINPROGRESS) return systemError("connect " + addr.toString(), errno);
    *inProgress = true;
  }
  return fd;
}

int socketError(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

namespace {
template <typename Op>
Status pollLoop(int fd, short events, size_t bytes, Deadline deadline, const char* what, Op op) {
  size_t done = 0;
  while (done < bytes) {
    ssize_t n = op(done);
    if (n > 0) { done += static_cast<size_t>(n); continue; }
    if (n == 0) return remoteError(std::string(what) + ": connection closed", -1);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return systemError(what, errno);
    if (deadline.expired()) return timeoutError(std::string(what) + " timed out");
    pollfd p{fd, events, 0};
    poll(&p, 1, deadline.remainingMs(1000));
  }
  return Status::ok();
}
}  // namespace

Status writeAll(int fd, const void* buf, size_t bytes, Deadline deadline) {
  auto* p = static_cast<const char*>(buf);
  return pollLoop(fd, POLLOUT, bytes, deadline, "send",
                  [&](size_t done) { return ::send(fd, p + done, bytes - done, MSG_NOSIGNAL | MSG_DONTWAIT); });
}

Status readAll(int fd, void* buf, size_t bytes, Deadline deadline) {
  auto* p = static_cast<char*>(buf);
  return pollLoop(fd, POLLIN, bytes, deadline, "recv",
                  [&](size_t done) { return ::recv(fd, p + done, bytes - done, MSG_DONTWAIT); });
}

Status writeAll(int fd, const void* buf, size_t bytes, int timeoutMs) {
  return writeAll(fd, buf, bytes, Deadline::after(std::chrono::milliseconds(timeoutMs)));
}

Status readAll(int fd, void* buf, size_t bytes, int timeoutMs) {
  return readAll(fd, buf, bytes, Deadline::after(std::chrono::milliseconds(timeoutMs)));
}

}  // namespace loom::os

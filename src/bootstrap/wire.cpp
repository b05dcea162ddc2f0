// Frame encoding and deadline-bounded blocking socket helpers for the bootstrap client side.
#include "bootstrap/wire.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <thread>

#include <fmt/format.h>

namespace loom::bootstrap::wire {

void Writer::u32(uint32_t v) {
  char b[4] = {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16), static_cast<char>(v >> 24)};
  out_.append(b, 4);
}

uint32_t loadLe32(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  return uint32_t(u[0]) | uint32_t(u[1]) << 8 | uint32_t(u[2]) << 16 | uint32_t(u[3]) << 24;
}

bool Reader::u32(uint32_t* v) {
  if (in_.size() - pos_ < 4) return false;
  *v = loadLe32(in_.data() + pos_);
  pos_ += 4;
  return true;
}

bool Reader::i32(int32_t* v) {
  uint32_t u;
  if (!u32(&u)) return false;
  *v = static_cast<int32_t>(u);
  return true;
}

bool Reader::bytes(size_t n, std::string_view* out) {
  if (in_.size() - pos_ < n) return false;
  *out = in_.substr(pos_, n);
  pos_ += n;
  return true;
}

bool Reader::str(std::string_view* out, uint32_t maxLen) {
  uint32_t n;
  if (!u32(&n) || n > maxLen) return false;
  return bytes(n, out);
}

std::string frame(FrameType type, std::string_view payload) {
  Writer w;
  w.u32(static_cast<uint32_t>(type));
  w.u32(static_cast<uint32_t>(payload.size()));
  w.bytes(payload);
  return std::move(w.out());
}

namespace {

// Waits until fd is ready for `events` or the deadline passes.
Status waitFd(int fd, short events, Deadline deadline, const char* what) {
  for (;;) {
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, deadline.remainingMs(1000));
    if (n > 0) return Status::ok();
    if (n < 0 && errno != EINTR) return systemError(std::string("poll while ") + what, errno);
    if (n == 0 && deadline.expired()) return timeoutError(std::string("timed out while ") + what);
  }
}

}  // namespace

Status sendAll(int fd, std::string_view data, Deadline deadline) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) { done += static_cast<size_t>(n); continue; }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      LOOM_TRY(waitFd(fd, POLLOUT, deadline, "sending to the bootstrap root"));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return systemError("send to bootstrap root " + peerName(fd), errno);
  }
  return Status::ok();
}

namespace {

// Reads exactly n bytes; `eof` reports a clean close before the first byte.
Status recvExact(int fd, char* buf, size_t n, Deadline deadline, const std::string& who) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::recv(fd, buf + done, n - done, MSG_DONTWAIT);
    if (r > 0) { done += static_cast<size_t>(r); continue; }
    if (r == 0) return remoteError(who + " closed the connection", -1);
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      Status s = waitFd(fd, POLLIN, deadline, ("waiting for " + who).c_str());
      if (!s.isOk()) return s.code() == loomTimeout ? timeoutError("timed out waiting for " + who) : s;
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == ECONNRESET) return remoteError(who + " reset the connection", -1);
    return systemError("recv from " + who, errno);
  }
  return Status::ok();
}

}  // namespace

Result<Frame> recvFrame(int fd, uint32_t maxBytes, Deadline deadline, const std::string& who) {
  char hdr[kHeaderBytes];
  LOOM_TRY(recvExact(fd, hdr, sizeof hdr, deadline, who));
  Frame f;
  uint32_t type = loadLe32(hdr);
  uint32_t len = loadLe32(hdr + 4);
  if (type < 1 || type > 5 || len > maxBytes - kHeaderBytes)
    return remoteError(fmt::format("malformed frame from {} (type {}, length {})", who, type, len), -1);
  f.type = static_cast<FrameType>(type);
  f.payload.resize(len);
  LOOM_TRY(recvExact(fd, f.payload.data(), len, deadline, who));
  return f;
}

Result<sockaddr_storage> resolve(const std::string& host, uint16_t port, int family) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  int rc = ::getaddrinfo(h.c_str(), nullptr, &hints, &res);
  if (rc != 0 || !res) return invalidArgument(fmt::format("cannot resolve host '{}': {}", host, gai_strerror(rc)));
  sockaddr_storage out{};
  std::memcpy(&out, res->ai_addr, res->ai_addrlen);
  ::freeaddrinfo(res);
  if (out.ss_family == AF_INET) reinterpret_cast<sockaddr_in*>(&out)->sin_port = htons(port);
  else reinterpret_cast<sockaddr_in6*>(&out)->sin6_port = htons(port);
  return out;
}

std::string numericHost(const sockaddr_storage& addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET)
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr, buf, sizeof buf);
  else if (addr.ss_family == AF_INET6)
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr, buf, sizeof buf);
  return buf;
}

uint16_t portOf(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
}

socklen_t lengthOf(const sockaddr_storage& addr) {
  return addr.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
}

std::string peerName(int fd) {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return "<unknown peer>";
  if (a.ss_family == AF_INET6) return fmt::format("[{}]:{}", numericHost(a), portOf(a));
  return fmt::format("{}:{}", numericHost(a), portOf(a));
}

Result<int> connectWithRetry(const std::string& host, uint16_t port, Deadline deadline) {
  auto addr = resolve(host, port, AF_UNSPEC);
  if (!addr) return addr.takeStatus();
  int backoffMs = 10;
  int lastErrno = 0;
  for (;;) {
    int fd = ::socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return systemError("socket", errno);
    int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&*addr), lengthOf(*addr));
    int err = rc == 0 ? 0 : errno;
    if (err == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int n = ::poll(&p, 1, std::min(deadline.remainingMs(), 2000));
      socklen_t len = sizeof err;
      if (n == 1) ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      else err = ETIMEDOUT;
    }
    if (err == 0) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return fd;
    }
    ::close(fd);
    lastErrno = err;
    if (deadline.remainingMs() <= 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(backoffMs, deadline.remainingMs())));
    backoffMs = std::min(backoffMs * 2, 500);
  }
  return systemError(fmt::format("could not connect to the bootstrap root at {}:{} before the deadline", host, port),
                     lastErrno);
}

bool splitHostPort(const std::string& text, std::string* host, uint16_t* port) {
  std::string h, p;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') return false;
    h = text.substr(1, close - 1);
    p = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon) return false;
    h = text.substr(0, colon);
    p = text.substr(colon + 1);
  }
  unsigned v = 0;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (h.empty() || p.empty() || ec != std::errc() || ptr != p.data() + p.size() || v > 65535) return false;
  *host = h;
  *port = static_cast<uint16_t>(v);
  return true;
}

std::string rankList(const std::vector<int>& ranks) {
  std::string out = ranks.size() == 1 ? "rank " : "ranks ";
  size_t shown = 0;
  for (size_t i = 0; i < ranks.size();) {
    size_t j = i;
    while (j + 1 < ranks.size() && ranks[j + 1] == ranks[j] + 1) ++j;
    if (shown++) out += ",";
    out += j > i ? fmt::format("{}-{}", ranks[i], ranks[j]) : std::to_string(ranks[i]);
    i = j + 1;
  }
  return out;
}

namespace {
uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
}  // namespace

Secret deriveSecret(std::string_view text) {
  uint64_t a = 0xcbf29ce484222325ull, b = 0x84222325cbf29ce4ull;
  for (unsigned char c : text) {
    a = (a ^ c) * 0x100000001b3ull;
    b = splitmix(b ^ c);
  }
  a = splitmix(a ^ text.size());
  b = splitmix(b + a);
  Secret s{};
  for (int i = 0; i < 8; ++i) {
    s[i] = static_cast<uint8_t>(a >> (8 * i));
    s[8 + i] = static_cast<uint8_t>(b >> (8 * i));
  }
  return s;
}

bool secretFromHex(const std::string& hex, Secret* out) {
  if (hex.size() != 32) return false;
  for (size_t i = 0; i < 16; ++i) {
    unsigned v = 0;
    auto [ptr, ec] = std::from_chars(hex.data() + 2 * i, hex.data() + 2 * i + 2, v, 16);
    if (ec != std::errc() || ptr != hex.data() + 2 * i + 2) return false;
    (*out)[i] = static_cast<uint8_t>(v);
  }
  return true;
}

}  // namespace loom::bootstrap::wire

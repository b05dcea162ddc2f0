// Frame encoding and deadline-bounded socket helpers for the bootstrap (over os/net.hpp).
#include "bootstrap/wire.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <thread>

#include <fmt/format.h>

namespace loom::bootstrap::wire {

void Writer::u32(uint32_t v) {
  char b[4];
  storeLe32(b, v);
  out_.append(b, 4);
}

void storeLe32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
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

bool parseFrameHeader(const char* p, uint32_t maxBytes, FrameHeader* out) {
  uint32_t type = loadLe32(p), len = loadLe32(p + 4);
  if (type < 1 || type > 5 || maxBytes < kHeaderBytes || len > maxBytes - kHeaderBytes) return false;
  out->type = static_cast<FrameType>(type);
  out->length = len;
  return true;
}

std::string encodeHello(const Hello& h) {
  Writer w;
  w.u32(kHelloMagic);
  w.u32(h.version);
  w.bytes(std::string_view(reinterpret_cast<const char*>(h.secret.data()), h.secret.size()));
  w.i32(h.rank);
  w.i32(h.nranks);
  w.i32(h.pid);
  w.str(h.host);
  return std::move(w.out());
}

bool parseHello(std::string_view payload, Hello* out) {
  Reader r(payload);
  uint32_t magic = 0;
  std::string_view secret, host;
  if (!r.u32(&magic) || !r.u32(&out->version) || !r.bytes(out->secret.size(), &secret) || !r.i32(&out->rank) ||
      !r.i32(&out->nranks) || !r.i32(&out->pid) || !r.str(&host, kMaxHelloHostBytes) || !r.done() ||
      magic != kHelloMagic)
    return false;
  std::memcpy(out->secret.data(), secret.data(), out->secret.size());
  out->host.assign(host);
  return true;
}

std::string encodeContribution(uint32_t round, uint32_t waitMs, std::string_view blob) {
  Writer w;
  w.u32(round);
  w.u32(waitMs);
  w.bytes(blob);
  return std::move(w.out());
}

bool parseContribution(std::string_view payload, Contribution* out) {
  Reader r(payload);
  if (!r.u32(&out->round) || !r.u32(&out->waitMs)) return false;
  out->blob = r.rest();
  return true;
}

std::string encodeGathered(uint32_t round, const std::vector<std::string_view>& blobs) {
  size_t total = 8;
  for (auto b : blobs) total += 4 + b.size();
  Writer w;
  w.out().reserve(total);
  w.u32(round);
  w.u32(static_cast<uint32_t>(blobs.size()));
  for (auto b : blobs) w.str(b);
  return std::move(w.out());
}

GatherParse parseGathered(std::string_view payload, uint32_t round, uint32_t nranks, std::vector<std::string>* out) {
  Reader r(payload);
  uint32_t got = 0, n = 0;
  if (!r.u32(&got) || !r.u32(&n) || got != round || n != nranks) return GatherParse::Unexpected;
  out->clear();
  for (uint32_t i = 0; i < n; ++i) {
    std::string_view b;
    if (!r.str(&b, kMaxFrameBytes)) return GatherParse::Truncated;
    out->emplace_back(b);
  }
  return GatherParse::Ok;
}

bool parseWelcome(std::string_view payload, int32_t* nranks) {
  Reader r(payload);
  return r.i32(nranks);
}

std::string encodeError(const Status& s) {
  Writer w;
  w.u32(static_cast<uint32_t>(s.code()));
  w.str(s.message());
  return std::move(w.out());
}

Status decodeError(std::string_view payload, const std::string& root) {
  Reader r(payload);
  uint32_t code = 0;
  std::string_view msg;
  if (!r.u32(&code) || !r.str(&msg, kMaxFrameBytes))
    return remoteError("bootstrap root at " + root + " sent a malformed error frame", -1);
  // Compare as integers: a stranger's code need not be a valid enumerator.
  loomResult_t c = loomRemoteError;
  for (loomResult_t kept : {loomInvalidUsage, loomTimeout, loomInvalidArgument})
    if (code == static_cast<uint32_t>(kept)) c = kept;
  return Status(c, std::string(msg));
}

Status sendAll(int fd, std::string_view data, Deadline deadline) {
  Status s = os::writeAll(fd, data.data(), data.size(), deadline);
  if (s.isOk()) return s;
  if (s.code() == loomTimeout) return timeoutError("timed out while sending to the bootstrap root");
  return Status(s.code(), "bootstrap root " + peerName(fd) + ": " + s.message(), s.peer(), s.sysErrno());
}

namespace {

// Reads exactly n bytes, with messages that name `who`.
Status recvExact(int fd, char* buf, size_t n, Deadline deadline, const std::string& who) {
  Status s = os::readAll(fd, buf, n, deadline);
  if (s.isOk()) return s;
  if (s.code() == loomTimeout) return timeoutError("timed out waiting for " + who);
  if (s.code() == loomRemoteError) return remoteError(who + " closed the connection", -1);
  if (s.sysErrno() == ECONNRESET) return remoteError(who + " reset the connection", -1);
  return systemError("recv from " + who, s.sysErrno());
}

}  // namespace

Result<Frame> recvFrame(int fd, uint32_t maxBytes, Deadline deadline, const std::string& who) {
  char hdr[kHeaderBytes];
  LOOM_TRY(recvExact(fd, hdr, sizeof hdr, deadline, who));
  Frame f;
  FrameHeader h;
  if (!parseFrameHeader(hdr, maxBytes, &h))
    return remoteError(fmt::format("malformed frame from {} (type {}, length {})", who, loadLe32(hdr), loadLe32(hdr + 4)),
                       -1);
  f.type = h.type;
  f.payload.resize(h.length);
  LOOM_TRY(recvExact(fd, f.payload.data(), h.length, deadline, who));
  return f;
}

Result<os::SockAddr> resolve(const std::string& host, uint16_t port, int family) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  int rc = ::getaddrinfo(h.c_str(), nullptr, &hints, &res);
  if (rc != 0 || !res) return invalidArgument(fmt::format("cannot resolve host '{}': {}", host, gai_strerror(rc)));
  os::SockAddr out;
  out.len = static_cast<socklen_t>(std::min<size_t>(res->ai_addrlen, sizeof out.storage));
  std::memcpy(&out.storage, res->ai_addr, out.len);
  ::freeaddrinfo(res);
  out.setPort(port);
  return out;
}

std::string peerName(int fd) {
  os::SockAddr a;
  a.len = sizeof a.storage;
  if (::getpeername(fd, a.get(), &a.len) != 0) return "<unknown peer>";
  return a.toString();
}

Result<os::UniqueFd> connectWithRetry(const std::string& host, uint16_t port, Deadline deadline) {
  auto addr = resolve(host, port, AF_UNSPEC);
  if (!addr) return addr.takeStatus();
  int backoffMs = 10;
  int lastErrno = 0;
  for (;;) {
    bool inProgress = false;
    auto fd = os::connectTcp(*addr, &inProgress);
    int err = fd ? 0 : fd.status().sysErrno();
    if (fd && inProgress) {
      pollfd p{fd->get(), POLLOUT, 0};
      int n = ::poll(&p, 1, std::min(deadline.remainingMs(), 2000));
      err = n == 1 ? os::socketError(fd->get()) : ETIMEDOUT;
    }
    if (err == 0) {
      os::setNoDelay(fd->get());
      return std::move(*fd);
    }
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

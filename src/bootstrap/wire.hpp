// Bootstrap wire format and small blocking-socket helpers (private to src/bootstrap).
//
// Every message is a frame: an 8-byte header {u32 type, u32 payload length} in little-endian
// order, then the payload. Lengths are checked against hard limits before anything is
// allocated, so a stranger cannot make the root allocate or wait for a huge frame. The
// protocol itself is described in docs/launchers.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bootstrap/bootstrap.hpp"
#include "os/net.hpp"

namespace loom::bootstrap::wire {

constexpr uint32_t kHelloMagic = 0x4C4F4F4D;  // "LOOM"
constexpr uint32_t kProtocolVersion = 1;
constexpr uint32_t kHeaderBytes = 8;
constexpr uint32_t kMaxFrameBytes = 64u << 20;  // whole frame, header included
constexpr uint32_t kMaxHelloBytes = 1024;       // before a peer has proven the secret
constexpr uint32_t kNoDeadline = 0xFFFFFFFFu;

enum class FrameType : uint32_t { Hello = 1, Welcome = 2, Contribute = 3, Gathered = 4, Error = 5 };

// Appends little-endian fields to a byte string.
class Writer {
 public:
  void u32(uint32_t v);
  void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
  void bytes(std::string_view b) { out_.append(b.data(), b.size()); }
  void str(std::string_view s) { u32(static_cast<uint32_t>(s.size())); bytes(s); }
  std::string& out() { return out_; }

 private:
  std::string out_;
};

// Bounds-checked reads; every accessor returns false once the input is exhausted.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool u32(uint32_t* v);
  bool i32(int32_t* v);
  bool bytes(size_t n, std::string_view* out);
  bool str(std::string_view* out, uint32_t maxLen);
  std::string_view rest() const { return in_.substr(pos_); }
  bool done() const { return pos_ == in_.size(); }

 private:
  std::string_view in_;
  size_t pos_ = 0;
};

// A whole frame (header + payload) ready to send.
std::string frame(FrameType type, std::string_view payload);
uint32_t loadLe32(const char* p);
void storeLe32(char* p, uint32_t v);

struct Frame {
  FrameType type{};
  std::string payload;
};

// --- pure message codecs: bytes in, value out, no I/O (fuzz/fuzz_bootstrap_frames.cpp) -----

struct FrameHeader {
  FrameType type{};
  uint32_t length = 0;  // payload bytes
};
// Decodes the 8-byte header at p; false for an unknown type or a frame (header included) over
// maxBytes, so callers never allocate or wait for more than maxBytes.
bool parseFrameHeader(const char* p, uint32_t maxBytes, FrameHeader* out);

// Hello payload: {magic, version, secret[16], rank, nranks, pid, str host}.
constexpr uint32_t kMaxHelloHostBytes = 256;
struct Hello {
  uint32_t version = kProtocolVersion;
  Secret secret{};
  int32_t rank = 0, nranks = 0, pid = 0;
  std::string host;
};
std::string encodeHello(const Hello& h);
bool parseHello(std::string_view payload, Hello* out);  // magic, exact length, host bound

// Contribute payload: {round, milliseconds the rank will still wait (kNoDeadline), blob...}.
struct Contribution {
  uint32_t round = 0;
  uint32_t waitMs = kNoDeadline;
  std::string_view blob;  // points into the payload
};
std::string encodeContribution(uint32_t round, uint32_t waitMs, std::string_view blob);
bool parseContribution(std::string_view payload, Contribution* out);

// Gathered payload: {round, n, n x str blob}.
std::string encodeGathered(uint32_t round, const std::vector<std::string_view>& blobs);
enum class GatherParse { Ok, Unexpected, Truncated };
// Unexpected: another round or another rank count than expected; nothing is allocated for
// blobs the payload does not hold.
GatherParse parseGathered(std::string_view payload, uint32_t round, uint32_t nranks, std::vector<std::string>* out);

// Welcome payload: {nranks}.
bool parseWelcome(std::string_view payload, int32_t* nranks);

// Error payload: {code, str message}. decodeError keeps the codes a root may send (invalid
// usage, timeout, invalid argument) and maps anything else to a remote error.
std::string encodeError(const Status& s);
Status decodeError(std::string_view payload, const std::string& root);

// --- socket helpers, each bounded by a deadline (built on os/net.hpp) ---------------------
Status sendAll(int fd, std::string_view data, Deadline deadline);
// Reads one frame. EOF before a full frame is a remoteError mentioning `who`.
Result<Frame> recvFrame(int fd, uint32_t maxBytes, Deadline deadline, const std::string& who);

// Resolves host (name or numeric) to an address; family AF_UNSPEC, AF_INET or AF_INET6.
Result<os::SockAddr> resolve(const std::string& host, uint16_t port, int family);
std::string peerName(int fd);  // "host:port" of the other end, for messages

// Connects to host:port, retrying with backoff until the deadline (the root may start later).
Result<os::UniqueFd> connectWithRetry(const std::string& host, uint16_t port, Deadline deadline);

// "host:port", "[v6]:port" or "v6addr" forms; false when malformed.
bool splitHostPort(const std::string& text, std::string* host, uint16_t* port);

// A "rank 3" / "ranks 1,4-7" phrase.
std::string rankList(const std::vector<int>& ranks);

// A 128-bit value derived from text (FNV-1a/splitmix; not cryptographic, see docs/launchers.md).
Secret deriveSecret(std::string_view text);
bool secretFromHex(const std::string& hex, Secret* out);

}  // namespace loom::bootstrap::wire

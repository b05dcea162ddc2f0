// loomUniqueId encoding. Layout of the 128 bytes (all integers little-endian unless noted):
//   0  u32  magic "LMID"          4  u8  version (1)       5  u8  family (4 or 6)
//   6  u16  port (network order)  8  16 bytes address (IPv4 uses the first 4)
//  24  16 bytes secret           40  u32 checksum of bytes 0..39 (FNV-1a)
//  44..127 zero
// The checksum and the zero tail catch ids that were truncated or mangled in transit.
#include <arpa/inet.h>

#include <cstring>

#include <fmt/format.h>

#include "bootstrap/bootstrap.hpp"
#include "bootstrap/wire.hpp"

namespace loom::bootstrap {

namespace {

constexpr uint32_t kIdMagic = 0x44494D4C;  // "LMID" in memory order
constexpr uint8_t kIdVersion = 1;
constexpr size_t kChecksumAt = 40;
constexpr size_t kUsedBytes = 44;

uint32_t fnv32(const char* p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(p[i])) * 16777619u;
  return h;
}

}  // namespace

loomUniqueId encodeId(const RendezvousId& id) {
  loomUniqueId raw{};
  char* p = raw.internal;
  wire::storeLe32(p, kIdMagic);
  p[4] = static_cast<char>(kIdVersion);
  uint16_t portBe = htons(id.port);
  std::memcpy(p + 6, &portBe, 2);
  std::string host = id.host;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (::inet_pton(AF_INET, host.c_str(), p + 8) == 1) p[5] = 4;
  else if (::inet_pton(AF_INET6, host.c_str(), p + 8) == 1) p[5] = 6;
  else p[5] = 0;  // not numeric: decodeId rejects it
  std::memcpy(p + 24, id.secret.data(), id.secret.size());
  wire::storeLe32(p + kChecksumAt, fnv32(p, kChecksumAt));
  return raw;
}

Result<RendezvousId> decodeId(const loomUniqueId& raw) {
  const char* p = raw.internal;
  if (wire::loadLe32(p) != kIdMagic) return invalidArgument("not a Loom unique id (bad magic)");
  if (static_cast<uint8_t>(p[4]) != kIdVersion)
    return invalidArgument(fmt::format("unique id version {} is not supported (expected {})", int(p[4]), kIdVersion));
  if (wire::loadLe32(p + kChecksumAt) != fnv32(p, kChecksumAt))
    return invalidArgument("unique id is corrupt (checksum mismatch)");
  for (size_t i = kUsedBytes; i < LOOM_UNIQUE_ID_BYTES; ++i)
    if (p[i] != 0) return invalidArgument("unique id is corrupt (non-zero padding)");
  RendezvousId id;
  char buf[INET6_ADDRSTRLEN] = {};
  if (p[5] == 4) {
    // An IPv4 address fills 4 of the 16 bytes; the rest are zero, so that one address has one id.
    for (size_t i = 12; i < 24; ++i)
      if (p[i] != 0) return invalidArgument("unique id is corrupt (non-zero bytes after its IPv4 address)");
    ::inet_ntop(AF_INET, p + 8, buf, sizeof buf);
  } else if (p[5] == 6) ::inet_ntop(AF_INET6, p + 8, buf, sizeof buf);
  else return invalidArgument(fmt::format("unique id has unknown address family {}", int(p[5])));
  id.host = buf;
  uint16_t portBe;
  std::memcpy(&portBe, p + 6, 2);
  id.port = ntohs(portBe);
  if (id.port == 0) return invalidArgument("unique id has port 0");
  std::memcpy(id.secret.data(), p + 24, id.secret.size());
  return id;
}

std::string idToHex(const loomUniqueId& raw) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(2 * LOOM_UNIQUE_ID_BYTES);
  for (unsigned char c : raw.internal) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

Result<loomUniqueId> idFromHex(const std::string& hex) {
  // Only the used prefix is required; a shorter string means a zero tail.
  if (hex.size() % 2 != 0 || hex.size() > 2 * LOOM_UNIQUE_ID_BYTES || hex.size() < 2 * kUsedBytes)
    return invalidArgument(fmt::format("unique id hex has {} digits (expected {})", hex.size(), 2 * LOOM_UNIQUE_ID_BYTES));
  loomUniqueId raw{};
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < hex.size() / 2; ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return invalidArgument(fmt::format("unique id hex has a non-hex character at {}", 2 * i));
    raw.internal[i] = static_cast<char>(hi << 4 | lo);
  }
  auto decoded = decodeId(raw);
  if (!decoded) return decoded.takeStatus();
  return raw;
}

}  // namespace loom::bootstrap

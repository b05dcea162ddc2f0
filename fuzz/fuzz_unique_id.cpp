// Fuzzes the rendezvous-id decoders: decodeId over raw 128-byte ids (loomUniqueId as passed by
// the application, often straight off a file or a broadcast), idFromHex over LOOM_UNIQUE_ID,
// splitHostPort over LOOM_ROOT_ADDR and secretFromHex over LOOM_SECRET. The first input byte
// picks the decoder; a successful decode must re-encode to the same bytes.
#include <algorithm>
#include <cctype>
#include <cstring>

#include "bootstrap/bootstrap.hpp"
#include "bootstrap/wire.hpp"
#include "fuzz_check.hpp"

using namespace loom::bootstrap;

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void rawId(const uint8_t* data, size_t size) {
  loomUniqueId raw{};
  std::memcpy(raw.internal, data, std::min(size, sizeof raw.internal));
  auto id = decodeId(raw);
  if (!id) return;
  LOOM_FUZZ_CHECK(id->port != 0 && !id->host.empty(), "decodeId accepted port 0 or no host");
  loomUniqueId again = encodeId(*id);
  LOOM_FUZZ_CHECK(std::memcmp(again.internal, raw.internal, sizeof raw.internal) == 0, "encodeId(decodeId(x)) != x");
  auto fromHex = idFromHex(idToHex(raw));
  LOOM_FUZZ_CHECK(fromHex && std::memcmp(fromHex->internal, raw.internal, sizeof raw.internal) == 0,
                  "idFromHex(idToHex(x)) != x");
}

void hexId(const std::string& text) {
  auto raw = idFromHex(text);
  if (!raw) return;
  LOOM_FUZZ_CHECK(decodeId(*raw).isOk(), "idFromHex accepted an id decodeId rejects");
  std::string expect = lower(text);
  expect.resize(2 * LOOM_UNIQUE_ID_BYTES, '0');  // a short hex string means a zero tail
  LOOM_FUZZ_CHECK(idToHex(*raw) == expect, "idToHex(idFromHex(x)) != x");
}

void hostPort(const std::string& text) {
  std::string host;
  uint16_t port = 0;
  if (!wire::splitHostPort(text, &host, &port)) return;
  LOOM_FUZZ_CHECK(!host.empty(), "splitHostPort gave an empty host");
  // Bracket what the plain form could not carry (a colon, a leading '[').
  bool bracket = host.find(':') != std::string::npos || host.front() == '[';
  std::string again = (bracket ? "[" + host + "]" : host) + ":" + std::to_string(port);
  std::string host2;
  uint16_t port2 = 0;
  LOOM_FUZZ_CHECK(wire::splitHostPort(again, &host2, &port2) && host2 == host && port2 == port,
                  "splitHostPort does not round-trip");
}

void secretHex(const std::string& text) {
  Secret s{};
  if (!wire::secretFromHex(text, &s)) return;
  static const char* digits = "0123456789abcdef";
  std::string hex;
  for (uint8_t b : s) {
    hex += digits[b >> 4];
    hex += digits[b & 15];
  }
  LOOM_FUZZ_CHECK(hex == lower(text), "secretFromHex accepted something that is not 32 hex digits");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  ++data, --size;
  switch (mode % 4) {
    case 0: rawId(data, size); break;
    case 1: hexId(loom::fuzz::text(data, size)); break;
    case 2: hostPort(loom::fuzz::text(data, size)); break;
    default: secretHex(loom::fuzz::text(data, size)); break;
  }
  return 0;
}

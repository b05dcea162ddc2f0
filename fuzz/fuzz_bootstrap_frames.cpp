// Fuzzes the bootstrap wire decoders over a byte stream, the way the root's event loop and a
// rank's client see it: frame headers (type and length limits, the tighter hello limit until a
// peer has said hello), then each payload by type: hello, contribute, gathered, welcome, error.
// Every payload a decoder accepts must re-encode to the same bytes.
#include <cstring>

#include "bootstrap/wire.hpp"
#include "fuzz_check.hpp"

using namespace loom::bootstrap;
using wire::FrameType;

namespace {

void payload(FrameType type, std::string_view p) {
  switch (type) {
    case FrameType::Hello: {
      wire::Hello h;
      if (!wire::parseHello(p, &h)) return;
      LOOM_FUZZ_CHECK(h.host.size() <= wire::kMaxHelloHostBytes, "hello host over its bound");
      LOOM_FUZZ_CHECK(wire::encodeHello(h) == p, "encodeHello(parseHello(x)) != x");
      return;
    }
    case FrameType::Contribute: {
      wire::Contribution c;
      if (!wire::parseContribution(p, &c)) return;
      LOOM_FUZZ_CHECK(wire::encodeContribution(c.round, c.waitMs, c.blob) == p, "contribution does not round-trip");
      return;
    }
    case FrameType::Gathered: {
      // Expect what the payload announces, so that the blob loop is reached; also a mismatch.
      uint32_t round = p.size() >= 4 ? wire::loadLe32(p.data()) : 0;
      uint32_t n = p.size() >= 8 ? wire::loadLe32(p.data() + 4) : 0;
      std::vector<std::string> blobs;
      LOOM_FUZZ_CHECK(wire::parseGathered(p, round + 1, n, &blobs) == wire::GatherParse::Unexpected,
                      "parseGathered accepted another round");
      if (wire::parseGathered(p, round, n, &blobs) != wire::GatherParse::Ok) return;
      LOOM_FUZZ_CHECK(blobs.size() == n, "parseGathered returned another count");
      std::vector<std::string_view> views(blobs.begin(), blobs.end());
      std::string again = wire::encodeGathered(round, views);
      LOOM_FUZZ_CHECK(again.size() <= p.size() && p.substr(0, again.size()) == again, "gathered does not round-trip");
      return;
    }
    case FrameType::Welcome: {
      int32_t n = 0;
      LOOM_FUZZ_CHECK(wire::parseWelcome(p, &n) == (p.size() >= 4), "parseWelcome length rule");
      return;
    }
    case FrameType::Error: {
      loom::Status s = wire::decodeError(p, "fuzz");
      LOOM_FUZZ_CHECK(!s.isOk(), "an error frame decoded as success");
      auto c = s.code();
      LOOM_FUZZ_CHECK(c == loomInvalidUsage || c == loomTimeout || c == loomInvalidArgument || c == loomRemoteError,
                      "decodeError kept a code a root may not send");
      // A well-formed frame whose code is kept decodes to exactly its code and message.
      const bool wellFormed = p.size() >= 8 && p.size() - 8 >= wire::loadLe32(p.data() + 4);
      if (wellFormed && wire::loadLe32(p.data()) == static_cast<uint32_t>(c)) {
        std::string again = wire::encodeError(s);
        LOOM_FUZZ_CHECK(again.size() <= p.size() && p.substr(0, again.size()) == again, "error does not round-trip");
      }
      return;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  bool authed = false;
  while (in.size() >= wire::kHeaderBytes) {
    const uint32_t limit = authed ? wire::kMaxFrameBytes : wire::kMaxHelloBytes;
    wire::FrameHeader h;
    if (!wire::parseFrameHeader(in.data(), limit, &h)) return 0;  // the root closes the connection
    LOOM_FUZZ_CHECK(static_cast<uint32_t>(h.type) >= 1 && static_cast<uint32_t>(h.type) <= 5, "unknown frame type");
    LOOM_FUZZ_CHECK(uint64_t(h.length) + wire::kHeaderBytes <= limit, "frame over its limit");
    std::string frame = wire::frame(h.type, std::string_view());
    LOOM_FUZZ_CHECK(frame.size() == wire::kHeaderBytes, "frame() header size");
    if (in.size() - wire::kHeaderBytes < h.length) return 0;  // the root waits for the rest
    payload(h.type, in.substr(wire::kHeaderBytes, h.length));
    authed = authed || h.type == FrameType::Hello;
    in.remove_prefix(wire::kHeaderBytes + h.length);
  }
  return 0;
}

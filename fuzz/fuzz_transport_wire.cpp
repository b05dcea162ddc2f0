// Fuzzes the transport's decoders of bytes from peers: the TCP hello (checkHello), the TCP frame
// header against the fragment expected next (checkFrame), the address blob every rank publishes
// through the bootstrap (parseAddress) and a peer's shared-memory segment header
// (checkSegHeader). The first input byte picks the decoder. Accepted values must satisfy the
// invariants the channel code relies on (indices in range, rings inside the mapping).
#include <algorithm>
#include <cstring>

#include "fuzz_check.hpp"
#include "transport/fabric_impl.hpp"

using namespace loom::transport;

namespace {

// Copies up to sizeof(T) bytes into a zeroed T and consumes them.
template <class T>
T take(const uint8_t*& data, size_t& size) {
  T v{};
  size_t n = std::min(size, sizeof(T));
  std::memcpy(static_cast<void*>(&v), data, n);
  data += n;
  size -= n;
  return v;
}

void hello(const uint8_t* data, size_t size) {
  auto h = take<wire::Hello>(data, size);
  auto flags = take<uint8_t>(data, size);
  // A config close to the hello (so the later checks are reached), perturbed by flag bits.
  FabricConfig c;
  std::memcpy(c.secret, h.secret, sizeof c.secret);
  c.commId = h.commId ^ (flags & 1);
  c.nranks = static_cast<int>(static_cast<uint32_t>(h.nranks) + ((flags >> 1) & 1u));  // wraps, no UB
  c.nsocks = static_cast<int>(h.nsocks + ((flags >> 2) & 1u));
  if (flags & 8) c.secret[flags % 16] ^= 1;
  std::string why = checkHello(h, c);
  if (!why.empty()) return;
  LOOM_FUZZ_CHECK(h.magic == wire::kHelloMagic && h.version == wire::kVersion, "bad magic or version accepted");
  LOOM_FUZZ_CHECK(std::memcmp(h.secret, c.secret, sizeof c.secret) == 0 && h.commId == c.commId, "stranger accepted");
  LOOM_FUZZ_CHECK(h.rank >= 0 && h.rank < c.nranks, "rank out of range accepted");
  LOOM_FUZZ_CHECK(h.sockIndex < h.nsocks && static_cast<int>(h.nsocks) == c.nsocks, "socket index out of range accepted");
}

void frame(const uint8_t* data, size_t size) {
  auto h = take<wire::Frame>(data, size);
  auto msgBytes = take<uint64_t>(data, size);
  FragRef expect{0, take<uint64_t>(data, size), take<uint64_t>(data, size)};
  if (take<uint8_t>(data, size) & 1) {  // often expect exactly what came, to pass the checks
    msgBytes = h.msgBytes;
    expect.offset = h.offset;
    expect.len = h.fragBytes;
  }
  loom::Status st = checkFrame(h, msgBytes, expect, 1, "fuzz");
  if (!st.isOk()) {
    LOOM_FUZZ_CHECK(st.code() == loomRemoteError && st.peer() == 1, "frame error without the peer");
    return;
  }
  LOOM_FUZZ_CHECK(h.magic == wire::kFrameMagic && h.type == static_cast<uint8_t>(wire::FrameType::Data) &&
                      h.msgBytes == msgBytes && h.fragBytes == expect.len &&
                      h.offset == expect.offset,
                  "mismatched frame accepted");
}

void address(const std::string& blob) {
  auto a = parseAddress(blob);
  if (!a) return;
  std::string text = formatAddress(*a);
  auto b = parseAddress(text);
  LOOM_FUZZ_CHECK(b.isOk(), "parseAddress rejects formatAddress's output");
  LOOM_FUZZ_CHECK(b->hostId == a->hostId && b->pid == a->pid && b->pidns == a->pidns && b->shmName == a->shmName &&
                      b->tcpHost == a->tcpHost && b->port == a->port,
                  "address does not round-trip");
  LOOM_FUZZ_CHECK(formatAddress(*b) == text, "formatAddress is not stable");
}

void segHeader(const uint8_t* data, size_t size) {
  auto h = take<wire::SegHeader>(data, size);
  size_t segBytes = take<uint32_t>(data, size) * size_t{64};  // up to 256 GiB, as a mapping could be
  loom::Status st = checkSegHeader(h, segBytes, h.rank, h.nranks, h.commId);
  if (!st.isOk()) return;
  // What connectShm and the ring code then compute must stay inside the mapping.
  using u128 = unsigned __int128;
  LOOM_FUZZ_CHECK(h.nranks > 0 && h.slots >= 2 && h.slotBytes > 0 && h.slotBytes % wire::kLine == 0, "bad geometry");
  u128 lastRing = u128(h.ringsOffset) + u128(h.nranks - 1) * h.ringStride;
  u128 lastSlotEnd = lastRing + sizeof(wire::RingCtl) + u128(h.slots) * (wire::kSlotHeaderBytes + h.slotBytes);
  LOOM_FUZZ_CHECK(lastSlotEnd <= segBytes, "a ring slot lies outside the segment");
  LOOM_FUZZ_CHECK(h.ringsOffset >= sizeof(wire::SegHeader) + sizeof(wire::Doorbell), "rings overlap the header");
  LOOM_FUZZ_CHECK(h.ringsOffset % wire::kLine == 0 && h.ringStride % wire::kLine == 0, "misaligned ring atomics");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  ++data, --size;
  switch (mode % 4) {
    case 0: hello(data, size); break;
    case 1: frame(data, size); break;
    case 2: address(loom::fuzz::text(data, size)); break;
    default: segHeader(data, size); break;
  }
  return 0;
}

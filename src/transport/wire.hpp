// On-the-wire and in-segment layouts of the shm and tcp transports (docs/transports.md).
// All integers are host byte order: shm peers share a host, and tcp peers are assumed to
// share endianness (checked by the magic of every hello and frame).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace loom::transport::wire {

// ---- TCP ----
constexpr uint32_t kHelloMagic = 0x4c4d4831;  // "LMH1"
constexpr uint16_t kVersion = 4;  // 2: typed frames with checksum, shm liveness word; 3: shm slots carry seq, single copy; 4: shm board
constexpr uint32_t kFrameMagic = 0x4c4d4652;  // "LMFR"
constexpr size_t kTcpFragBytes = 512 << 10;   // multiple of 64: every element size divides it

// First bytes on every data connection, both ways (the acceptor answers with its own).
struct Hello {
  uint32_t magic;
  uint16_t version;
  uint16_t sockIndex;
  int32_t rank;
  int32_t nranks;
  uint32_t nsocks;
  uint32_t reserved;
  uint64_t commId;
  uint8_t secret[16];
};
static_assert(sizeof(Hello) == 48);

// Precedes every fragment, and alone makes a control frame. A message of n bytes is
// max(1, ceil(n / kTcpFragBytes)) data frames; data frame g of a peer pair (counted over all
// messages) travels on socket g % nsocks. Control frames (heartbeat, bye) carry no payload, are
// sent only between frames and are never counted as messages or fragments.
enum class FrameType : uint8_t { Data = 0, Heartbeat = 1, Bye = 2 };
constexpr uint8_t kFlagCrc = 1;  // crc holds the CRC32C of the payload

struct Frame {
  uint32_t magic;
  uint8_t type;   // FrameType
  uint8_t flags;  // kFlagCrc
  uint16_t reserved;
  uint32_t crc;
  uint32_t reserved2;
  uint64_t fragBytes;  // payload bytes after this header (0 for control frames)
  uint64_t msgBytes;   // total bytes of the message (size checks)
  uint64_t offset;     // of this fragment within the message
};
static_assert(sizeof(Frame) == 40);

// ---- Shared memory ----
constexpr uint64_t kSegMagic = 0x4c4f4f4d53484d31ull;  // "LOOMSHM1"
constexpr size_t kLine = 64;

// The doorbell of a rank: while `sleeping` is set, peers bump `seq` after publishing or freeing
// a slot of a ring it waits on, and futex-wake it (FabricImpl::ring, sleepOnBell).
struct alignas(kLine) Doorbell {
  std::atomic<uint32_t> seq;
  std::atomic<uint32_t> sleeping;
};

struct alignas(kLine) SegHeader {
  uint64_t magic;
  uint32_t version;
  int32_t rank;
  int32_t nranks;
  uint32_t slots;
  uint64_t slotBytes;   // payload bytes per slot, multiple of 64
  uint64_t ringStride;  // bytes between consecutive rings
  uint64_t ringsOffset;
  uint64_t commId;
  uint64_t probeAddr;  // where the owner maps this header: a peer reading it there proves it can read the owner
  // The board (one-shot small collectives, shm_board.cpp): a BoardCtl line, then boardDepth
  // entries of kLine + boardBytes each; boardDepth 0: none.
  uint64_t boardOffset;
  uint64_t boardBytes;   // payload bytes per entry, multiple of 64
  uint32_t boardDepth;
  uint32_t reserved;
};

// Control word of one single-producer single-consumer ring; it only grows. The producer's
// count of published slots lives in the slots themselves (SlotHeader::seq), so a consumer finds
// a new fragment and its header in one cache line instead of reading a head counter first.
struct RingCtl {
  alignas(kLine) std::atomic<uint64_t> tail;  // written by the consumer (the segment owner)
  std::atomic<uint32_t> cmaOk;  // set at connect by the consumer: it can read the producer's memory
  // Messages numbered below this have a plain-copy receive posted by the consumer: one of them may
  // go single copy (a reduce receive would pay a staging copy the ring does not need).
  std::atomic<uint64_t> copyRecvsBelow;
};
static_assert(sizeof(RingCtl) == kLine);

// Follows the doorbell in page 0: the owner sets `closed` (release) in its destructor, after
// its last publish, so peers tell a clean exit from a crash.
struct alignas(kLine) Liveness {
  std::atomic<uint32_t> closed;
};

// Slot flags.
constexpr uint32_t kFlagCma = 2;      // single copy: the payload is a CmaDesc; the receiver reads the bytes
constexpr uint32_t kFlagRevoked = 4;  // set by a failing sender: its buffer may be gone (atomic access)

// Payload of a kFlagCma slot: the sender's buffer in the sender's address space. The receiver
// copies it with process_vm_readv and hands the slot back (tail) only once it has every byte,
// which is when the sender's send completes.
struct CmaDesc {
  uint64_t addr;
  uint64_t bytes;
};

// Heads each slot; the payload follows at +kLine. The producer fills slot i (counted from 0
// over the ring's life) and then stores seq = i + 1 (release): that store publishes it.
struct SlotHeader {
  std::atomic<uint64_t> seq;
  uint64_t msgBytes;
  uint64_t fragBytes;
  uint64_t offset;
  uint32_t flags;  // kFlagCrc, kFlagCma, kFlagRevoked
  uint32_t crc;    // CRC32C of the fragment's payload when flagged
};
constexpr size_t kSlotHeaderBytes = kLine;
static_assert(sizeof(SlotHeader) <= kSlotHeaderBytes);

// ---- The board ----
// The owner's progress through board calls: `finished` = calls whose peer entries it has read
// (all of them before call `finished`). A peer reuses its entry of call c for call c + depth only
// once every rank finished call c.
struct alignas(kLine) BoardCtl {
  std::atomic<uint64_t> finished;
};

// What a board entry holds, for the readers to check against their own call (a mismatched
// collective is an error, not a wrong result). Opaque to the transport.
struct BoardTag {
  uint64_t count;
  int32_t root;
  uint8_t coll, type, op, reserved;
  bool operator==(const BoardTag&) const = default;
};

// Heads each board entry (kLine + boardBytes apart); the payload follows at +kBoardHeaderBytes,
// so up to 32 bytes share the header's cache line: a reader of a small entry misses once. The
// owner writes the payload, tag and bytes of call c, then stores seq = c + 1 (release): that
// store publishes it.
struct BoardHeader {
  std::atomic<uint64_t> seq;
  uint64_t bytes;
  BoardTag tag;
};
constexpr size_t kBoardHeaderBytes = 32;
static_assert(sizeof(BoardHeader) == kBoardHeaderBytes);

static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<uint32_t>::is_always_lock_free);

}  // namespace loom::transport::wire

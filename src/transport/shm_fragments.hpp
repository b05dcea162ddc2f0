// How a shared-memory message is cut into ring fragments, and below what size a sender that
// waits for nothing still leaves a single-copy message to its receiver. Header-only: the
// transport follows the rules and the cost model (src/cost) replays them.
//
// A message in one fragment is copied into the slot and only then out of it; in four or more,
// the receiver copies fragment k while the sender fills k+1 (a 128 KiB tree broadcast between
// two ranks took 23 us in one fragment). Fragments stay at or above kMinShmFrag, where a slot
// hand-over costs little next to the copy, and at or below a slot.
#pragma once

#include <algorithm>
#include <cstddef>

namespace loom::transport {

constexpr size_t kMinShmFrag = 16 * 1024;

// The slot size a ring gets for LOOM_SHM_SLOT_BYTES: a multiple of 64, at least 4 KiB.
inline size_t shmSlotBytes(size_t configured) { return std::max<size_t>(4096, configured / 64 * 64); }

// The same on both sides: slotBytes is the receiver's (a multiple of 64).
inline size_t shmFragBytes(size_t bytes, size_t slotBytes) {
  size_t quarter = (bytes / 4 + 63) / 64 * 64;
  return std::min(slotBytes, std::max(kMinShmFrag, quarter));
}

// A one-way single-copy message below this size (shm_cma.cpp, FabricImpl::cmaPays).
constexpr size_t kCmaOneWayBytes = 1 << 20;

// A single-copy read takes at most this much per call (process_vm_readv) and progress pass:
// other peers are served between.
constexpr size_t kCmaBurstBytes = 4 << 20;

}  // namespace loom::transport

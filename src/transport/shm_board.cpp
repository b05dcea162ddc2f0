// The board: per rank a ring of entries in its own segment, written by the owner and read by
// every peer (docs/transports.md). A one-shot collective of a few KiB posts its input once and
// reads the peers' entries it needs: one cache-line handoff per peer instead of a message per
// pair through the slot rings, and nothing queued. An entry is reused `depth` calls later, once
// every rank has said (BoardCtl::finished) that it read that call, so a rank may run up to depth
// calls ahead (a broadcast root does, as eager sends would). Waits use the doorbells: a publish
// rings the peers that sleep, and shmReady() sees the word a stalled call watches.
#include <fmt/format.h>

#include "transport/fabric_impl.hpp"

namespace loom::transport {

size_t FabricImpl::boardRegionBytes() const {
  if (!boardDepth_) return 0;
  return roundUp(sizeof(wire::BoardCtl) + boardDepth_ * boardStride(), kPage);
}

void FabricImpl::placeBoard(char* base, wire::SegHeader* h) {
  h->boardOffset = boardDepth_ ? kPage : 0;
  h->boardBytes = boardBytes_;
  h->boardDepth = boardDepth_;
  if (!boardDepth_) return;
  boardCtl_ = new (base + kPage) wire::BoardCtl{};
  boardEntries_ = base + kPage + sizeof(wire::BoardCtl);
  for (uint32_t i = 0; i < boardDepth_; ++i) new (boardSlot(boardEntries_, i)) wire::BoardHeader{};
}

Status FabricImpl::connectBoard(int rank, Peer& p, const wire::SegHeader& h) {
  // Every rank must agree on the board, or some would post there and others wait on the rings.
  if (h.boardDepth != boardDepth_ || h.boardBytes != boardBytes_)
    return invalidUsage(fmt::format(
        "rank {} has a board of {} entries of {} bytes, this rank {} of {} (LOOM_SHM_BOARD_DEPTH or "
        "LOOM_SHM_BOARD_BYTES differ between ranks)",
        rank, h.boardDepth, h.boardBytes, boardDepth_, boardBytes_));
  if (!boardDepth_) return Status::ok();
  char* base = static_cast<char*>(p.seg.data());
  p.boardCtl = reinterpret_cast<const wire::BoardCtl*>(base + h.boardOffset);
  p.boardEntries = base + h.boardOffset + sizeof(wire::BoardCtl);
  return Status::ok();
}

// Once the board is known to be used (every peer on shared memory): else the first `depth`
// calls take a page fault per page they touch, each as dear as a small call (a 4-rank 8 KiB
// allreduce ran 8.5 us a call for its first 200 calls, 5.2 us after). Ours for writing, each
// peer's in our mapping of it; a board left unused stays unallocated. A board larger than
// kBoardPrefaultBytes (LOOM_SHM_BOARD_* allow up to 4 GiB) is not committed whole: only each
// entry's header page, which the owner wrote already and peers map here.
void FabricImpl::prefaultBoards() {
  if (!boardReady_) return;
  const size_t used = sizeof(wire::BoardCtl) + boardDepth_ * boardStride();  // connectBoard checked peers' fit
  const bool whole = used <= kBoardPrefaultBytes;
  if (whole) ownSeg_.prefault(kPage, used, true);
  for (int r : shmPeers_) {
    const Peer& p = peers_[r];
    if (whole) {
      p.seg.prefault(reinterpret_cast<const char*>(p.boardCtl) - static_cast<const char*>(p.seg.data()), used, false);
      continue;
    }
    for (uint32_t i = 0; i < boardDepth_; ++i)
      (void)reinterpret_cast<const wire::BoardHeader*>(boardSlot(p.boardEntries, i))->seq.load(std::memory_order_relaxed);
  }
}

bool FabricImpl::boardFree(uint64_t call) {
  if (call < boardFreeBelow_ || call < boardDepth_) return true;
  // The slowest peer decides; remember how far that lets us go before looking again.
  const uint64_t need = call + 1 - boardDepth_;
  uint64_t slowest = UINT64_MAX;
  for (int r : shmPeers_) {
    const auto& word = peers_[r].boardCtl->finished;
    const uint64_t f = word.load(std::memory_order_acquire);
    if (f < need) {
      watchBoard(&word, need, false);
      return false;
    }
    slowest = std::min(slowest, f);
  }
  boardWatch_ = nullptr;
  boardFreeBelow_ = slowest + boardDepth_;
  return true;
}

void FabricImpl::boardPublish(uint64_t call, const wire::BoardTag& tag, size_t bytes) {
  auto* h = reinterpret_cast<wire::BoardHeader*>(boardSlot(boardEntries_, call));
  h->bytes = bytes;
  h->tag = tag;
  h->seq.store(call + 1, std::memory_order_release);
  ringBoardPeers();
}

const wire::BoardHeader* FabricImpl::boardEntry(int peer, uint64_t call) {
  const char* entries = peer == me_ ? boardEntries_ : peers_[peer].boardEntries;
  const auto* h = reinterpret_cast<const wire::BoardHeader*>(boardSlot(entries, call));
  if (h->seq.load(std::memory_order_acquire) == call + 1) {
    boardWatch_ = nullptr;
    return h;
  }
  watchBoard(&h->seq, call + 1, true);
  return nullptr;
}

// No doorbell here: a fence per call for the rare rank that runs a whole board ahead costs more
// than that rank's wait, which polls instead (waitForActivity sleeps at most 1 ms on it).
void FabricImpl::boardFinish(uint64_t call) {
  boardCtl_->finished.store(call + 1, std::memory_order_release);
  boardWatch_ = nullptr;
  ++boardCalls_;
  movedSinceYield_ = true;  // board calls move no ring data: without this, yielding would stop
                            // yieldUs into a run of them, and each wait would sleep instead
}

void FabricImpl::ringBoardPeers() {
  for (int r : shmPeers_) peers_[r].bellDue = true;
  ringDueBells();
}

}  // namespace loom::transport

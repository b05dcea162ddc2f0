// Shared-memory channel: per ordered pair one single-producer single-consumer ring of slots.
//
// Each rank owns one segment holding its doorbell and one inbound ring per possible sender.
// A sender copies a fragment (at most one slot of payload, a multiple of 64 bytes except a
// message's last) into the next slot of the receiver's ring, publishes it by storing the slot's
// sequence number in its header (so the receiver finds the news and the header in one cache
// line) and rings the receiver's doorbell; the receiver copies or reduces straight out of the
// slot, advances the tail and rings the sender's doorbell (the sender may wait for space).
// Ringing costs one fence per progress pass, however many peers it served, and a read per peer
// while its owner is awake; the bell is bumped and the futex syscall made only when the owner
// sleeps. Cost:
// two memcpy passes per byte (in and out of the slot), no syscalls on the fast path.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/log.hpp"
#include "os/futex.hpp"
#include "os/process.hpp"
#include "transport/crc32c.hpp"
#include "transport/fabric_impl.hpp"

namespace loom::transport {

Status FabricImpl::createSegment() {
  std::string name = fmt::format("/loom-{:016x}-{}-{}", cfg_.commId, me_, getpid());
  size_t slotStride = wire::kSlotHeaderBytes + slotBytes_;
  size_t ringStride = roundUp(sizeof(wire::RingCtl) + static_cast<size_t>(cfg_.shmSlots) * slotStride, kPage);
  const size_t ringsOffset = kPage + boardRegionBytes();
  size_t total = ringsOffset + static_cast<size_t>(n_) * ringStride;  // sparse: untouched rings cost nothing
  auto seg = os::ShmSegment::create(name, total);
  if (!seg && seg.status().sysErrno() == EEXIST) {
    // A stale name from a dead process that had our pid: take it over.
    shm_unlink(name.c_str());
    seg = os::ShmSegment::create(name, total);
  }
  if (!seg) return seg.takeStatus();
  ownSeg_ = std::move(seg.value());
  char* base = static_cast<char*>(ownSeg_.data());
  auto* h = new (base) wire::SegHeader{};
  h->magic = wire::kSegMagic;
  h->version = wire::kVersion;
  h->rank = me_;
  h->nranks = n_;
  h->slots = static_cast<uint32_t>(cfg_.shmSlots);
  h->slotBytes = slotBytes_;
  h->ringStride = ringStride;
  h->ringsOffset = ringsOffset;
  h->commId = cfg_.commId;
  h->probeAddr = reinterpret_cast<uint64_t>(h);
  placeBoard(base, h);
  bell_ = new (base + sizeof(wire::SegHeader)) wire::Doorbell{};
  ownLive_ = new (base + sizeof(wire::SegHeader) + sizeof(wire::Doorbell)) wire::Liveness{};
  return Status::ok();
}

Status checkSegHeader(const wire::SegHeader& h, size_t segBytes, int rank, int nranks, uint64_t commId) {
  if (segBytes < sizeof(wire::SegHeader) + sizeof(wire::Doorbell) + sizeof(wire::Liveness) || h.magic != wire::kSegMagic ||
      h.version != wire::kVersion || h.rank != rank || h.nranks != nranks || h.commId != commId || nranks < 1 ||
      rank < 0 || rank >= nranks)
    return invalidArgument("wrong magic, version, rank, size or communicator");
  // Sizes are checked with overflow in mind: a hostile or corrupt header must not make ringAt()
  // or the slot arithmetic point outside the mapping. A zero slot size would also divide by zero
  // when counting fragments.
  if (h.slots < 2 || h.slotBytes == 0 || h.slotBytes % wire::kLine || h.slotBytes > segBytes)
    return invalidArgument(fmt::format("bad slot geometry ({} slots of {} bytes)", h.slots, h.slotBytes));
  const unsigned __int128 ringBytes =
      sizeof(wire::RingCtl) + static_cast<unsigned __int128>(h.slots) * (wire::kSlotHeaderBytes + h.slotBytes);
  if (h.ringStride < ringBytes || h.ringStride % wire::kLine || h.ringsOffset % wire::kLine ||
      h.ringsOffset < sizeof(wire::SegHeader) + sizeof(wire::Doorbell) + sizeof(wire::Liveness) ||
      h.ringsOffset + static_cast<unsigned __int128>(nranks) * h.ringStride > segBytes)
    return invalidArgument(fmt::format("rings ({} at {} every {}) do not fit in {} bytes", nranks, h.ringsOffset,
                                       h.ringStride, segBytes));
  if (h.boardDepth) {  // the board lies between the header page's contents and the rings
    const unsigned __int128 boardEnd = static_cast<unsigned __int128>(h.boardOffset) + sizeof(wire::BoardCtl) +
                                       static_cast<unsigned __int128>(h.boardDepth) * (wire::kLine + h.boardBytes);
    if (h.boardBytes % wire::kLine || h.boardOffset % wire::kLine ||
        h.boardOffset < sizeof(wire::SegHeader) + sizeof(wire::Doorbell) + sizeof(wire::Liveness) ||
        boardEnd > h.ringsOffset)
      return invalidArgument(fmt::format("board ({} entries of {} bytes at {}) overlaps the header or the rings",
                                         h.boardDepth, h.boardBytes, h.boardOffset));
  }
  return Status::ok();
}

static ShmRing ringAt(char* base, const wire::SegHeader& h, int index) {
  ShmRing r;
  char* ring = base + h.ringsOffset + static_cast<size_t>(index) * h.ringStride;
  r.ctl = reinterpret_cast<wire::RingCtl*>(ring);
  r.slots = ring + sizeof(wire::RingCtl);
  r.slotBytes = h.slotBytes;
  r.slotStride = wire::kSlotHeaderBytes + h.slotBytes;
  r.nslots = h.slots;
  return r;
}

Status FabricImpl::connectShm(int rank, const PeerAddress& a) {
  Peer& p = peers_[rank];
  auto seg = os::ShmSegment::open(a.shmName, 0);
  if (!seg) return Status(seg.status().code(), fmt::format("rank {}: {}", rank, seg.status().message()), rank);
  p.seg = std::move(seg.value());
  char* base = static_cast<char*>(p.seg.data());
  if (p.seg.size() < kPage)
    return remoteError(fmt::format("shared memory segment {} of rank {} is not what it announced", a.shmName, rank), rank);
  const auto* h = reinterpret_cast<const wire::SegHeader*>(base);
  if (Status st = checkSegHeader(*h, p.seg.size(), rank, n_, cfg_.commId); !st.isOk())
    return remoteError(fmt::format("shared memory segment {} of rank {} is not what it announced ({})", a.shmName, rank,
                                   st.message()),
                       rank);
  p.bell = reinterpret_cast<wire::Doorbell*>(base + sizeof(wire::SegHeader));
  p.live = reinterpret_cast<const wire::Liveness*>(base + sizeof(wire::SegHeader) + sizeof(wire::Doorbell));
  p.out = ringAt(base, *h, me_);
  p.in = ringAt(static_cast<char*>(ownSeg_.data()), *reinterpret_cast<const wire::SegHeader*>(ownSeg_.data()), rank);
  p.pid = a.pid;
  p.pidCheckable = a.pidns != 0 && a.pidns == pidns_;
  LOOM_TRY(connectBoard(rank, p, *h));
  probeCma(rank, p);
  return Status::ok();
}

// Publisher and sleeper pair up as in Dekker's algorithm: the publisher stores (a slot's seq or
// the tail), fences, then reads `sleeping`; the sleeper stores `sleeping`, fences, then re-reads
// the rings. Either the sleeper sees the publish or the publisher sees the sleeper and bumps the
// bell. The bell is written only for a sleeper: a busy pair keeps its line shared in both caches
// instead of trading it on every fragment (a locked add on a line the peer owns). One fence
// covers every publish of the pass (a one-shot collective sends to all peers at once).
void FabricImpl::ringDueBells() {
  bool fenced = false;
  for (int r : shmPeers_) {
    Peer& p = peers_[r];
    if (!p.bellDue) continue;
    p.bellDue = false;
    if (!fenced) std::atomic_thread_fence(std::memory_order_seq_cst);
    fenced = true;
    if (p.bell->sleeping.load(std::memory_order_relaxed)) {
      p.bell->seq.fetch_add(1);
      os::futexWake(&p.bell->seq);
    }
  }
}

namespace {
std::atomic<uint64_t> gBellSleeps{0};  // testhooks::bellSleeps
}  // namespace

uint64_t testhooks::bellSleeps() { return gBellSleeps.load(std::memory_order_relaxed); }

void FabricImpl::sleepOnBell(int timeoutMs) {
  // A publisher that missed our `sleeping` published before our fence, so shmReady() sees it;
  // one that saw it bumps the bell after we read `v` (futex_wait returns at once) or wakes us.
  bell_->sleeping.store(1);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  uint32_t v = bell_->seq.load();
  if (!wakePending_.load() && !aborted_.load() && !shmReady()) {
    gBellSleeps.fetch_add(1, std::memory_order_relaxed);
    os::futexWait(&bell_->seq, v, timeoutMs);
  }
  bell_->sleeping.store(0, std::memory_order_relaxed);
}

bool FabricImpl::shmReady() const {
  for (int r : shmPeers_) {
    const Peer& p = peers_[r];
    if (!p.sends.empty()) {
      const uint64_t tail = p.out.ctl->tail.load(std::memory_order_acquire);
      const SendOp& s = p.sends.front();
      if (s.cmaPublished ? tail > s.cmaSlot : p.out.mine - tail < p.out.nslots) return true;
    }
    if (!p.recvs.empty() && p.in.published()) return true;
  }
  return boardWatch_ && boardWatch_->load(std::memory_order_acquire) >= boardWatchAt_;
}

void FabricImpl::finishSend(Peer& p) {
  const SendOp& s = p.sends.front();
  if (s.judged && s.cmaPublished) {  // the receiver has read it all
    p.oneWay.completed(OneWayJudge::kSingle, s.bytes, Clock::now(), oneWayProbeBelow_);
  } else if (s.judged) {  // wholly in the ring: done once the tail passes it (noteRingDrains)
    p.ringDrains.push_back({p.out.mine, s.bytes});
    if (p.sends.size() == 1) {
      p.ringQuietAt = Clock::now();
      p.ringQuietEnd = p.out.mine;
    }
  }
  complete(s.done, Status::ok());
  p.sends.pop_front();
  ++p.sendBase;
}

void FabricImpl::finishRecv(Peer& p) {
  const bool reduced = p.recvs.front().sink.reduce != nullptr;
  complete(p.recvs.front().done, Status::ok());
  p.recvs.pop_front();
  ++p.recvBase;
  if (reduced) showCopyRecvs(p);  // copy receives behind it may now lead
}

// A drain seen after the stream went quiet counts as done when it went quiet: the sender may have
// been away (the rest of its call, the caller's own work) and the receiver done long before. That
// credits the ring with its last slots' drain, up to 2 MiB a stream.
void FabricImpl::noteRingDrains(Peer& p, uint64_t tail) {
  if (p.ringDrains.empty() || tail < p.ringDrains.front().end) return;
  const auto now = Clock::now();
  // Drains end in order, so those of a quiet stream come first. Those seen done at one moment go
  // to the judge together.
  auto pass = [&](uint64_t upTo, Clock::time_point at) {
    size_t bytes = 0;
    int messages = 0;
    for (; !p.ringDrains.empty() && p.ringDrains.front().end <= upTo; p.ringDrains.pop_front(), ++messages)
      bytes += p.ringDrains.front().bytes;
    if (messages) p.oneWay.completed(OneWayJudge::kRing, bytes, at, oneWayProbeBelow_, messages);
  };
  pass(std::min(tail, p.ringQuietEnd), std::min(now, p.ringQuietAt));
  pass(tail, now);
}

void FabricImpl::fillSlot(Peer& p, char* dst, const char* src, size_t len) {
  checkPacer_.moved(len);
  const int mode = cfg_.shmStreamStores;
  if (len < StoreJudge::kJudgedBytes || mode == 0) return mem::copyBytes(dst, src, len);
  if (mode > 0) return mem::streamCopy(dst, src, len);
  const auto t0 = Clock::now();
  p.stores.kind() == StoreJudge::kStream ? mem::streamCopy(dst, src, len) : mem::copyBytes(dst, src, len);
  const auto t1 = Clock::now();
  p.stores.copied(len, std::chrono::duration<double>(t1 - t0).count(), t1);
}

bool FabricImpl::progressShm(int rank, Peer& p, Clock::time_point* now, bool busyLocally) {
  bool moved = false;
  ShmRing& o = p.out;
  if (!p.ringDrains.empty()) noteRingDrains(p, o.ctl->tail.load(std::memory_order_acquire));
  // Sends leave in order. A single-copy send is wholly in the ring once its descriptor is, so the
  // sends behind it may publish theirs at once (`i` runs ahead of the front): a chunked broadcast
  // root then hands the receiver every chunk in one pass instead of one per round trip (2-rank
  // 8 MiB broadcast 1.4 -> 0.83 ms). Not while we also wait for this peer's data: ends of an
  // exchange that run ahead reach their next call before the peer has posted its receives, and
  // those messages then take the ring (2-rank in-place allgather of 64 MiB 6.5 -> 9.7 ms).
  // Ring fragments are written for the front send only.
  for (size_t i = 0; i < p.sends.size();) {
    SendOp& s = p.sends[i];
    if (s.cmaPublished) {  // the receiver copies from our buffer; the tail passing it says done
      if (i == 0 && (o.cached = o.ctl->tail.load(std::memory_order_acquire)) > s.cmaSlot) {
        finishSend(p);
        moved = true;
        continue;
      }
      if (!p.recvs.empty()) break;  // an exchange: one descriptor at a time
      ++i;
      continue;
    }
    if (o.mine - o.cached >= o.nslots) {
      o.cached = o.ctl->tail.load(std::memory_order_acquire);
      noteRingDrains(p, o.cached);  // a pass may write a whole stream: the judge may switch within
      if (o.mine - o.cached >= o.nslots) break;  // ring full
    }
    char* slot = o.slot(o.mine);
    bool longOneWay = false;
    if (s.cma && s.pos == 0 && cmaPays(p, i, busyLocally, &longOneWay)) {
      // Published once the peer shows a copy receive for it, or at once where its receive will be
      // a copy (cmaMayWait) and we wait for this peer's data anyway (an exchange): the end that
      // came first took the ring, so a 2-rank in-place allgather went single copy one way only
      // (2 MiB 150 us, 55 so), and a 4-rank alltoall on 2 cores mostly through the ring.
      if (o.ctl->copyRecvsBelow.load(std::memory_order_acquire) > p.sendBase + i ||
          (s.cmaMayWait && !p.recvs.empty())) {
        s.judged = longOneWay;
        if (longOneWay) p.oneWay.started(OneWayJudge::kSingle, Clock::now());
        publishCma(p, s, slot);
        moved = true;
        continue;
      }
      // In the middle of local work, a message whose receive will be a copy waits for it: it may
      // yet come, and through the ring it would copy twice. Not one whose receive may reduce (it
      // never shows): held, it would only be late.
      if (busyLocally && s.cmaMayWait) break;
      // Nothing else to move with this peer: wait a little for the receive, which is usually on its
      // way (a loop of in-place 2-rank broadcasts of 512 KiB: the root arrives first and took the
      // ring on every call), but no longer than cmaWaitUs: the receiver may be busy for long, and
      // until it reads, the send does not complete. Only where the receive will be a copy: a
      // reduce receive, posted later, would find the data already in the ring had we not waited
      // (2-rank reduce of 32 KiB 3.4 -> 5.7 us).
      if (i == 0 && s.cmaMayWait && p.recvs.empty()) {
        if (*now == Clock::time_point{}) *now = Clock::now();
        if (s.cmaWaitSince == Clock::time_point{}) s.cmaWaitSince = *now;
        if (*now - s.cmaWaitSince < std::chrono::microseconds(cfg_.cmaWaitUs)) break;
      }
    }
    if (i > 0) break;
    if (s.pos == 0 && longOneWay) {
      s.judged = true;
      p.oneWay.started(OneWayJudge::kRing, Clock::now());
    }
    size_t len = std::min(s.frag, s.bytes - s.pos);
    auto* h = reinterpret_cast<wire::SlotHeader*>(slot);
    h->msgBytes = s.bytes;
    h->fragBytes = len;
    h->offset = s.pos;
    h->flags = 0;
    if (len) fillSlot(p, slot + wire::kSlotHeaderBytes, s.buf + s.pos, len);
    if (cfg_.checksum) {  // over the slot as written (read back from memory after streaming stores)
      h->crc = crc32c(slot + wire::kSlotHeaderBytes, len);
      h->flags = wire::kFlagCrc;
    }
    if (len && takeCorruption()) slot[wire::kSlotHeaderBytes + len / 2] ^= 0x5a;
    s.pos += len;
    h->seq.store(++o.mine, std::memory_order_release);
    p.bellDue = true;
    moved = true;
    if (--s.fragsLeft == 0) finishSend(p);
  }
  ShmRing& in = p.in;
  while (!p.recvs.empty() && in.published()) {
    RecvOp& rv = p.recvs.front();
    const char* slot = in.slot(in.mine);
    const auto* h = reinterpret_cast<const wire::SlotHeader*>(slot);
    if (h->msgBytes != rv.bytes) {
      fail(remoteError(fmt::format("message size mismatch with rank {}: it sent {} bytes, the receive expects {} bytes",
                                   rank, h->msgBytes, rv.bytes), rank));
      return true;
    }
    if (h->flags & wire::kFlagCma) {
      if (!readCma(rank, p, rv, slot)) return true;
      moved = true;
      if (rv.pos < rv.bytes) break;  // more on the next pass
      rv.fragsLeft = 1;  // the whole message was this one slot
      ++cmaRead_;
    } else {
      size_t len = std::min(rv.frag, rv.bytes - rv.pos);
      if (h->fragBytes != len || h->offset != rv.pos) {
        fail(remoteError(fmt::format("corrupt shared memory fragment from rank {} ({} bytes at {}, expected {} at {})",
                                     rank, h->fragBytes, h->offset, len, rv.pos), rank));
        return true;
      }
      if (h->flags & wire::kFlagCrc) {
        uint32_t got = crc32c(slot + wire::kSlotHeaderBytes, len);
        if (got != h->crc) {
          fail(remoteError(fmt::format("checksum mismatch from rank {} (shm fragment: {} bytes at offset {} of a {}-byte "
                                       "message): CRC32C {:08x}, sender said {:08x}",
                                       rank, len, rv.pos, rv.bytes, got, h->crc), rank));
          return true;
        }
      }
      deliver(rv.sink, rv.pos, slot + wire::kSlotHeaderBytes, len);
      checkPacer_.moved(len);
      rv.pos += len;
    }
    // Hand the slot back: the sender may wait for space, or (single copy) for its send to end.
    in.ctl->tail.store(++in.mine, std::memory_order_release);
    p.bellDue = true;
    moved = true;
    if (--rv.fragsLeft == 0) finishRecv(p);
  }
  if (moved || (p.sends.empty() && p.recvs.empty())) return moved;
  // Stuck with work pending. Liveness (process exit, clean close) is checked by checkPeers()
  // every few ms to 100 ms; a peer that closed cleanly will never move its rings again.
  if (p.closed && !p.in.published()) {
    fail(remoteError(fmt::format("{} closed its communicator while messages to or from it were pending", who(rank)), rank));
    return true;
  }
  return false;
}

}  // namespace loom::transport

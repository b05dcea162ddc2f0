// Single-copy shared-memory messages (cross-memory attach). A large message is not copied into
// the ring and out again: the sender publishes a slot holding a CmaDesc (its buffer's address),
// the receiver copies the bytes straight from the sender's address space with process_vm_readv
// (or reduces them through a cache-sized staging buffer) and hands the slot back, which
// completes the send. One copy instead of two, and the sender's core does none of it: two
// processes exchanging 8 MiB each way on this VM took 0.7-0.85 ms this way against 1.35-1.4 ms
// through the ring.
//
// Whether a receiver may read a sender is probed at connect (same pid namespace, and
// process_vm_readv of the sender's segment header at the address the sender announced returns
// that header): ptrace restrictions (Yama scope 2-3, or 1 between siblings) or seccomp make it
// fail, and such pairs keep the two-copy ring. Under LOOM_CHECKSUM nothing goes single copy
// (the checksum covers ring fragments).
#include <sys/uio.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

#include "core/log.hpp"
#include "transport/fabric_impl.hpp"

namespace loom::transport {

namespace {
std::atomic<uint64_t> published{0};  // testhooks::singleCopySends
std::atomic<uint64_t> revoked{0};    // testhooks::singleCopyRevokes
constexpr size_t kStageBytes = 256 << 10;   // stays in cache between the copy and the reduce
}  // namespace

void FabricImpl::probeCma(int rank, Peer& p) {
  if (!p.pidCheckable || p.pid <= 0) return;
  const auto* theirs = static_cast<const wire::SegHeader*>(p.seg.data());
  wire::SegHeader seen{};
  iovec local{&seen, sizeof seen};
  iovec remote{reinterpret_cast<void*>(theirs->probeAddr), sizeof seen};
  const ssize_t got = process_vm_readv(p.pid, &local, 1, &remote, 1, 0);
  const bool ok = got == static_cast<ssize_t>(sizeof seen) && std::memcmp(&seen, theirs, sizeof seen) == 0;
  if (!ok) LOOM_DEBUG("rank {}: no single-copy reads from rank {} ({})", me_, rank, got < 0 ? std::strerror(errno) : "mismatch");
  p.in.ctl->cmaOk.store(ok ? 1 : 0, std::memory_order_release);
}

bool FabricImpl::wantsCma(const Peer& p, size_t bytes) const {
  const size_t from = singleCopyBytes();
  return from > 0 && bytes >= from && p.out.ctl->cmaOk.load(std::memory_order_acquire) == 1;
}

// A sender with nothing else to do copies a long stream into the ring itself: then both cores
// copy, in parallel, and a one-way stream runs at two copies' speed (a 2-rank 16 MiB broadcast
// took 2.6 ms so, 5.3 ms single copy) while the two cores share a cache; where they do not, the
// ring ran up to 6x slower than single copy, so each peer's OneWayJudge measures both ways on
// such streams and may choose single copy. The stream is what is queued to this peer from the
// message on: a chunked broadcast's 512 KiB chunks are one stream (2-rank in-place broadcast of
// 256 MiB: 52 ms single copy chunk by chunk, 31 through the ring). Up to kCmaOneWayBytes the
// pipeline's fill and the second pass cost more than the receiver's one read (2-rank broadcast of
// 64-512 KiB 1.2-1.6x faster single copy, 1-4 MiB even). A sender that also waits for data, or
// that is in the middle of local work (`busyLocally`: an out-of-place root copying to its own
// output), is better off leaving the one copy to the receiver at any size (an exchange: 2-rank
// allgather and alltoall of 512 KiB-4 MiB ran 1.2-1.75x faster). When ranks outnumber cores,
// only within an exchange with this very peer: a one-way send completes only once its receiver
// has been scheduled and moves the copy onto it, which stalls forwarding chains (4-rank broadcast
// of 32 MiB 1.2-1.4x, in-place ring allgather 1.25x slower), while in an exchange each end still
// copies one side (4-rank out-of-place alltoall of 2-8 MiB 1.15-1.2x faster).
bool FabricImpl::cmaPays(const Peer& to, size_t at, bool busyLocally, bool* longOneWay) const {
  *longOneWay = false;
  if (cfg_.yieldUs > 0) return !to.recvs.empty();
  if (busyLocally) return true;
  for (int r : shmPeers_)
    if (!peers_[r].recvs.empty()) return true;
  size_t stream = 0;
  for (size_t k = at; k < to.sends.size() && stream <= kCmaOneWayBytes; ++k) stream += to.sends[k].bytes;
  if (stream <= kCmaOneWayBytes) return true;
  // Past it the ring, unless this peer's single copy measured faster (oneway_judge.hpp).
  *longOneWay = true;
  return to.oneWay.way() == OneWayJudge::kSingle;
}

void FabricImpl::showCopyRecvs(Peer& p) {
  // Off the small-message path: postRecv calls this for large copy receives only, a finished
  // receive only when it was a reduce. A value shown stays true until its messages are consumed,
  // so one shown late only forgoes single copy.
  if (singleCopyBytes() == 0 || p.in.ctl->cmaOk.load(std::memory_order_relaxed) != 1) return;
  uint64_t below = p.recvBase;
  for (size_t i = 0; i < p.recvs.size() && !p.recvs[i].sink.reduce; ++i) ++below;
  if (below == p.copyRecvsShown) return;
  p.copyRecvsShown = below;
  p.in.ctl->copyRecvsBelow.store(below, std::memory_order_release);
}

void FabricImpl::publishCma(Peer& p, SendOp& s, char* slot) {
  auto* h = reinterpret_cast<wire::SlotHeader*>(slot);
  h->msgBytes = s.bytes;
  h->fragBytes = 0;
  h->offset = 0;
  h->flags = wire::kFlagCma;
  h->crc = 0;
  const wire::CmaDesc d{reinterpret_cast<uint64_t>(s.buf), s.bytes};
  std::memcpy(slot + wire::kSlotHeaderBytes, &d, sizeof d);
  s.cmaSlot = p.out.mine;
  s.cmaPublished = true;
  published.fetch_add(1, std::memory_order_relaxed);
  ++cmaSent_;
  h->seq.store(++p.out.mine, std::memory_order_release);
  p.bellDue = true;
}

bool FabricImpl::readCma(int rank, Peer& p, RecvOp& rv, const char* slot) {
  const auto* h = reinterpret_cast<const wire::SlotHeader*>(slot);
  wire::CmaDesc d;
  std::memcpy(&d, slot + wire::kSlotHeaderBytes, sizeof d);
  // The sender sets kFlagRevoked with an atomic store; the header lies in our own segment.
  auto revoked = [&] {
    return (std::atomic_ref<uint32_t>(const_cast<uint32_t&>(h->flags)).load(std::memory_order_acquire) &
            wire::kFlagRevoked) != 0;
  };
  auto withdrawn = [&] {
    return remoteError(fmt::format("{} withdrew a message while it was being read (it failed)", who(rank)), rank);
  };
  if (d.bytes != rv.bytes || h->fragBytes != 0 || h->offset != 0) {
    fail(remoteError(fmt::format("corrupt single-copy descriptor from rank {} ({} bytes, expected {})", rank, d.bytes,
                                 rv.bytes), rank));
    return false;
  }
  const size_t end = std::min(rv.bytes, rv.pos + kCmaBurstBytes);
  while (rv.pos < end) {
    // Reduce chunks are multiples of every element size, and so is the message.
    const size_t len = rv.sink.reduce ? std::min(end - rv.pos, kStageBytes) : end - rv.pos;
    char* into = static_cast<char*>(rv.sink.dst) + rv.pos;
    if (rv.sink.reduce) {
      if (cmaStage_.size() < kStageBytes) cmaStage_.resize(kStageBytes);
      into = cmaStage_.data();
    }
    iovec local{into, len};
    iovec remote{reinterpret_cast<void*>(d.addr + rv.pos), len};
    const ssize_t got = process_vm_readv(p.pid, &local, 1, &remote, 1, 0);
    if (got != static_cast<ssize_t>(len)) {
      // Short or failed: part of the range is gone, which a healthy sender never allows.
      const std::string why = got < 0 ? std::strerror(errno) : fmt::format("only {} bytes", got);
      fail(revoked() ? withdrawn()
                     : remoteError(fmt::format("single-copy read of {} bytes at offset {} from {} failed: {}", len,
                                               rv.pos, who(rank), why),
                                   rank));
      return false;
    }
    if (rv.sink.reduce) deliver(rv.sink, rv.pos, into, len);
    checkPacer_.moved(len);
    rv.pos += len;
  }
  // Read, then check: a sender that failed revoked its descriptor before its caller could free
  // or reuse the buffer, so bytes read before this check are what it sent.
  if (revoked()) {
    fail(withdrawn());
    return false;
  }
  return true;
}

void FabricImpl::revokeCma() {
  for (int r : shmPeers_) {
    Peer& p = peers_[r];
    for (size_t i = 0; i < p.sends.size() && p.sends[i].cmaPublished; ++i) {  // the published lead the queue
      auto* h = reinterpret_cast<wire::SlotHeader*>(p.out.slot(p.sends[i].cmaSlot));
      std::atomic_ref<uint32_t>(h->flags).fetch_or(wire::kFlagRevoked, std::memory_order_seq_cst);
      revoked.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

uint64_t testhooks::singleCopySends() { return published.load(std::memory_order_relaxed); }
uint64_t testhooks::singleCopyRevokes() { return revoked.load(std::memory_order_relaxed); }

}  // namespace loom::transport

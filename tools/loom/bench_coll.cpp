// Per-collective buffers, calls and checks for `loom bench`. Sizes, counts and in-place
// offsets follow nccl-tests' getCollByteCount so that rows compare one to one with it: for
// allgather and gather the "size" is the gathered output, for reducescatter, scatter and alltoall
// the whole input, and the count column is the count passed to the call.
#include "bench_coll.hpp"

#include <algorithm>
#include <cstring>

#include "bench_values.hpp"
#include "mem/reduce.hpp"

namespace loom::bench {

const char* collName(Coll c) {
  switch (c) {
    case Coll::AllReduce: return "allreduce";
    case Coll::AllGather: return "allgather";
    case Coll::ReduceScatter: return "reducescatter";
    case Coll::Broadcast: return "broadcast";
    case Coll::Reduce: return "reduce";
    case Coll::AllToAll: return "alltoall";
    case Coll::Gather: return "gather";
    case Coll::Scatter: return "scatter";
    case Coll::SendRecv: return "sendrecv";
  }
  return "?";
}

std::optional<Coll> parseColl(const std::string& s) {
  for (Coll c : kAllColls)
    if (s == collName(c)) return c;
  return std::nullopt;
}

std::optional<algo::Coll> libraryColl(Coll c) {
  switch (c) {
    case Coll::AllReduce: return algo::Coll::AllReduce;
    case Coll::AllGather: return algo::Coll::AllGather;
    case Coll::ReduceScatter: return algo::Coll::ReduceScatter;
    case Coll::Broadcast: return algo::Coll::Broadcast;
    case Coll::Reduce: return algo::Coll::Reduce;
    case Coll::AllToAll: return algo::Coll::AllToAll;
    case Coll::Gather: return algo::Coll::Gather;
    case Coll::Scatter: return algo::Coll::Scatter;
    default: return std::nullopt;
  }
}

bool hasOp(Coll c) { return c == Coll::AllReduce || c == Coll::ReduceScatter || c == Coll::Reduce; }
bool hasRoot(Coll c) { return c == Coll::Broadcast || c == Coll::Reduce || c == Coll::Gather || c == Coll::Scatter; }

double busFactor(Coll c, int n) {
  switch (c) {
    case Coll::AllReduce: return 2.0 * (n - 1) / n;
    case Coll::AllGather:
    case Coll::ReduceScatter:
    case Coll::AllToAll:
    case Coll::Gather:
    case Coll::Scatter: return static_cast<double>(n - 1) / n;
    default: return 1.0;
  }
}

Layout layoutFor(Coll c, size_t requestedBytes, size_t typeSize, int nranks) {
  const size_t count = requestedBytes / typeSize, n = static_cast<size_t>(nranks);
  Layout l;
  switch (c) {
    case Coll::AllGather:
    case Coll::Gather:
      l.paramCount = l.sendCount = count / n;
      l.recvCount = l.sendCount * n;
      break;
    case Coll::ReduceScatter:
    case Coll::Scatter:
      l.paramCount = l.recvCount = count / n;
      l.sendCount = l.recvCount * n;
      break;
    case Coll::AllToAll:
      l.paramCount = count / n;
      l.sendCount = l.recvCount = l.paramCount * n;
      break;
    default: l.paramCount = l.sendCount = l.recvCount = count; break;
  }
  l.bytes = std::max(l.sendCount, l.recvCount) * typeSize;
  return l;
}

bool BenchBuffer::growTo(size_t bytes) {
  if (bytes <= n_) return true;
  loom_ = loom::HostBuffer<uint8_t>(0);
  plain_.reset();
  n_ = 0;
  try {
    if (loomMemory_) loom_ = loom::HostBuffer<uint8_t>(bytes);
    else plain_.reset(static_cast<uint8_t*>(std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096)));
  } catch (const loom::Error&) {
    return false;
  }
  if (!data()) return false;
  n_ = bytes;
  std::memset(data(), 0, n_);  // loomMemAlloc's zeros too: written, its pages are faulted in now
  return true;
}

bool BenchBuffers::reserveFor(const Layout& layout, size_t elem) {
  return send.growTo(sendBytes(layout, elem)) && recv.growTo(recvBytes(layout, elem));
}

CollRun::CollRun(Coll c, loomComm_t comm, int rank, int nranks, loomDataType_t type, loomRedOp_t op, int root,
                 size_t requestedBytes, BenchBuffers& buffers)
    : coll_(c), comm_(comm), rank_(rank), nranks_(nranks), type_(type), op_(hasOp(c) ? op : loomSum),
      root_(hasRoot(c) ? root : -1), elem_(mem::typeSize(type)),
      layout_(layoutFor(c, requestedBytes, elem_, nranks)) {
  if (!buffers.reserveFor(layout_, elem_)) throw std::bad_alloc();  // runBench reserved the largest already
  send_ = {buffers.send.data(), BenchBuffers::sendBytes(layout_, elem_)};
  recv_ = {buffers.recv.data(), BenchBuffers::recvBytes(layout_, elem_)};
  fillInputs(false);
}

// In place, the data lives in one buffer, placed as nccl-tests places it (as NCCL defines).
uint8_t* CollRun::sendPtr(bool inPlace) {
  if (!inPlace) return send_.data();
  if (coll_ == Coll::AllGather || coll_ == Coll::Gather) return recv_.data() + rank_ * layout_.paramCount * elem_;
  return send_.data();
}

uint8_t* CollRun::recvPtr(bool inPlace) {
  if (!inPlace) return recv_.data();
  switch (coll_) {
    case Coll::AllGather:
    case Coll::Gather: return recv_.data();
    case Coll::ReduceScatter:
    case Coll::Scatter: return send_.data() + rank_ * layout_.paramCount * elem_;
    default: return send_.data();
  }
}

const uint8_t* CollRun::resultPtr(bool inPlace) const { return const_cast<CollRun*>(this)->recvPtr(inPlace); }

size_t CollRun::resultCount() const {
  return coll_ == Coll::AllGather || coll_ == Coll::Gather || coll_ == Coll::AllToAll ? layout_.recvCount
                                                                                     : layout_.paramCount;
}

bool CollRun::checksHere() const { return !(coll_ == Coll::Reduce || coll_ == Coll::Gather) || rank_ == root_; }

loomResult_t CollRun::issue(bool inPlace, loomRequest_t* req) {
  const size_t n = layout_.paramCount;
  uint8_t* s = sendPtr(inPlace);
  uint8_t* r = recvPtr(inPlace);
  switch (coll_) {
    case Coll::AllReduce: return loomAllReduce(s, r, n, type_, op_, comm_, req);
    case Coll::AllGather: return loomAllGather(s, r, n, type_, comm_, req);
    case Coll::ReduceScatter: return loomReduceScatter(s, r, n, type_, op_, comm_, req);
    case Coll::Broadcast: return loomBroadcast(s, r, n, type_, root_, comm_, req);
    case Coll::Reduce: return loomReduce(s, r, n, type_, op_, root_, comm_, req);
    case Coll::AllToAll: return loomAllToAll(s, r, n, type_, comm_, req);
    case Coll::Gather: return loomGather(s, r, n, type_, root_, comm_, req);
    case Coll::Scatter: return loomScatter(s, r, n, type_, root_, comm_, req);
    case Coll::SendRecv: {
      // A ring shift as one group; loomGroupEnd blocks, so there is never a request.
      if (req) *req = nullptr;
      const int next = (rank_ + 1) % nranks_, prev = (rank_ + nranks_ - 1) % nranks_;
      loomResult_t g = loomGroupStart();
      if (g != loomSuccess) return g;
      loomResult_t a = loomSend(s, n, type_, next, comm_, nullptr);
      loomResult_t b = loomRecv(r, n, type_, prev, comm_, nullptr);
      loomResult_t e = loomGroupEnd();
      return a != loomSuccess ? a : b != loomSuccess ? b : e;
    }
  }
  return loomInternalError;
}

void CollRun::fillInputs(bool inPlace) {
  const size_t n = layout_.paramCount;
  // Poison everything first: stale results of an earlier run must not pass the check.
  std::memset(send_.data(), 0xee, send_.size());
  std::memset(recv_.data(), 0xee, recv_.size());
  uint8_t* s = sendPtr(inPlace);
  switch (coll_) {
    case Coll::Broadcast:
      // Non-roots hold different values so that a broadcast that does nothing is caught.
      values::fill(type_, op_, rank_ == root_ ? root_ : rank_ + 100, s, 0, n);
      break;
    case Coll::Scatter: values::fill(type_, op_, rank_ == root_ ? root_ : rank_ + 100, s, 0, layout_.sendCount); break;
    default: values::fill(type_, op_, rank_, s, 0, layout_.sendCount); break;
  }
}

size_t CollRun::countWrong(bool inPlace) const {
  if (!checksHere()) return 0;
  const uint8_t* out = resultPtr(inPlace);
  const size_t n = layout_.paramCount, total = resultCount();
  const int prev = (rank_ + nranks_ - 1) % nranks_;
  auto expect = [&](size_t i) -> int64_t {
    switch (coll_) {
      case Coll::AllReduce:
      case Coll::Reduce: return values::reduced(type_, op_, nranks_, i);
      case Coll::ReduceScatter: return values::reduced(type_, op_, nranks_, rank_ * n + i);
      case Coll::AllGather:
      case Coll::Gather: return values::input(type_, op_, static_cast<int>(i / n), i % n);
      case Coll::AllToAll: return values::input(type_, op_, static_cast<int>(i / n), rank_ * n + i % n);
      case Coll::Broadcast: return values::input(type_, op_, root_, i);
      case Coll::Scatter: return values::input(type_, op_, root_, rank_ * n + i);
      case Coll::SendRecv: return values::input(type_, op_, prev, i);
    }
    return 0;
  };
  size_t wrong = 0;
  for (size_t i = 0; i < total; ++i)
    if (!values::matches(type_, op_, nranks_, out, i, expect(i))) ++wrong;
  return wrong;
}

void CollRun::corruptOne(bool inPlace) {
  if (!checksHere() || resultCount() == 0) return;
  // Only one rank damages its result, so exactly one element per check is wrong.
  const int corruptRank = (coll_ == Coll::Reduce || coll_ == Coll::Gather) ? root_ : 0;
  if (rank_ != corruptRank) return;
  uint8_t* out = recvPtr(inPlace);
  for (size_t b = 0; b < elem_; ++b) out[b] ^= 0x5a;
}

}  // namespace loom::bench

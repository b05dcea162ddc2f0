// Recursive halving-doubling (Rabenseifner): the latency-frugal choice for mid-sized messages.
//
// With p = 2^k ranks, allreduce is a reduce-scatter by recursive halving (at the step with
// distance m rank v swaps halves of its current range with v^m, keeping the half on its side of
// bit m and folding the partner's copy of it in) followed by an allgather by recursive doubling
// (the same exchanges in reverse, each doubling the range held). After halving, rank v owns
// group v of the buffer.
// Non-power-of-two n uses the standard fold: with rem = n - p, the even ranks below 2*rem send
// their whole input to the odd neighbour, which reduces it and stands for both in the p-rank
// algorithm (new rank r/2; ranks >= 2*rem become r - rem), then hands the result back.
//   allreduce cost: 2 log2 p steps (+2 when folding), bytes sent per rank 2(p-1)/p B (+B),
//   alpha-beta: 2 log2 p alpha + 2(p-1)/p B beta + (p-1)/p B gamma (+ 2 alpha + 2B beta + B gamma).
// Reducescatter and allgather are the halving and doubling halves over rank blocks (groups of
// one block, or two for a folded pair); each is log2 p steps and (p-1)/p of the n*B total bytes
// per rank, plus the fold: the whole n*B input (reducescatter) or the n*B output (allgather).
#include <vector>

#include "algo/generators.hpp"

namespace loom::algo::detail {

using sched::copy;
using sched::in;
using sched::out;
using sched::recv;
using sched::recvReduce;
using sched::Schedule;
using sched::scratch;
using sched::send;
using sched::kNoStep;
using sched::Span;

namespace {

std::vector<uint32_t> deps(std::initializer_list<uint32_t> ids) {
  std::vector<uint32_t> v;
  for (uint32_t i : ids)
    if (i != kNoStep) v.push_back(i);
  return v;
}

// The power-of-two core and who stands for whom.
struct Fold {
  int n, p, rem, r;
  explicit Fold(int nranks, int rank) : n(nranks), p(1), rem(0), r(rank) {
    while (p * 2 <= n) p *= 2;
    rem = n - p;
  }
  bool extra() const { return r < 2 * rem && r % 2 == 0; }    // sits out, via r+1
  bool proxy() const { return r < 2 * rem && r % 2 == 1; }    // stands for r-1 and r
  int newRank() const { return r < 2 * rem ? r / 2 : r - rem; }
  int realRank(int v) const { return v < rem ? 2 * v + 1 : v + rem; }
  // First real rank block of group v (group p is the end).
  int groupStart(int v) const { return v < rem ? 2 * v : v + rem; }
};

}  // namespace

Status rhdAllReduce(const CollArgs& a, Schedule& s) {
  const size_t es = a.elemSize, bytes = a.count * es;
  if (a.count == 0) return Status::ok();
  if (a.nranks == 1) {
    s.add(copy(in(0, bytes), out(0, bytes)));
    return Status::ok();
  }
  Fold f(a.nranks, a.rank);
  if (f.extra()) {
    uint32_t sent = s.add(send(a.rank + 1, in(0, bytes)));
    s.add(recv(a.rank + 1, out(0, bytes)), {sent});
    return Status::ok();
  }
  // Group g of the p-rank algorithm: a balanced share of the elements.
  auto span = [&](bool output, int g0, int g1) {
    size_t b = balanced(a.count, f.p, g0).begin, e = g1 == f.p ? a.count : balanced(a.count, f.p, g1).begin;
    return Span{output ? sched::Buf::Output : sched::Buf::Input, b * es, (e - b) * es};
  };
  bool inOut = false;  // whether this rank's running data lives in Output yet
  uint32_t last = kNoStep;
  if (f.proxy()) {
    last = s.add(recvReduce(a.rank - 1, in(0, bytes), out(0, bytes)));
    inOut = true;
  }
  const int v = f.newRank();
  std::vector<uint32_t> halvSend(f.p, kNoStep);  // by mask
  int lo = 0;
  for (int m = f.p / 2; m >= 1; m /= 2) {
    const int peer = f.realRank(v ^ m), mid = lo + m;
    const int keep0 = (v & m) ? mid : lo, give0 = (v & m) ? lo : mid;
    Span give = span(inOut, give0, give0 + m), keepSrc = span(inOut, keep0, keep0 + m);
    Span keepDst = span(true, keep0, keep0 + m);
    if (give.bytes) halvSend[m] = s.add(send(peer, give), deps({last}));
    if (keepDst.bytes) last = s.add(recvReduce(peer, keepSrc, keepDst), deps({last}));
    inOut = true;
    lo = keep0;
  }
  uint32_t lastRecv = last, lastSend = kNoStep;
  for (int m = 1; m < f.p; m *= 2) {
    const int pv = v ^ m, peer = f.realRank(pv);
    const int mine0 = v & ~(m - 1), theirs0 = pv & ~(m - 1);
    Span mine = span(true, mine0, mine0 + m), theirs = span(true, theirs0, theirs0 + m);
    uint32_t sent = mine.bytes ? s.add(send(peer, mine), deps({lastRecv, lastSend})) : kNoStep;
    // In place, the halving step with this distance read these bytes from Input.
    uint32_t got = theirs.bytes ? s.add(recv(peer, theirs), deps({halvSend[m]})) : kNoStep;
    if (sent != kNoStep) lastSend = sent;
    if (got != kNoStep) lastRecv = got;
  }
  if (f.proxy()) s.add(send(a.rank - 1, out(0, bytes)), deps({lastRecv, lastSend}));
  return Status::ok();
}

Status rhdReduceScatter(const CollArgs& a, Schedule& s) {
  const size_t es = a.elemSize, blk = a.count * es, total = blk * a.nranks;
  if (a.count == 0) return Status::ok();
  if (a.nranks == 1) {
    s.add(copy(in(0, blk), out(0, blk)));
    return Status::ok();
  }
  Fold f(a.nranks, a.rank);
  if (f.extra()) {
    uint32_t sent = s.add(send(a.rank + 1, in(0, total)));
    s.add(recv(a.rank + 1, out(0, blk)), {sent});  // in place, Output is inside the Input just sent
    return Status::ok();
  }
  // Partial sums at their Input offsets; two ranks land theirs straight in Output.
  s.scratchBytes = f.p > 2 || f.proxy() ? total : 0;
  auto span = [&](sched::Buf buf, int g0, int g1) {
    size_t b = f.groupStart(g0) * blk, e = (g1 == f.p ? a.nranks : f.groupStart(g1)) * blk;
    return Span{buf, b, e - b};
  };
  sched::Buf loc = sched::Buf::Input;
  uint32_t last = kNoStep;
  if (f.proxy()) {
    last = s.add(recvReduce(a.rank - 1, in(0, total), scratch(0, total)));
    loc = sched::Buf::Scratch;
  }
  const int v = f.newRank();
  int lo = 0;
  for (int m = f.p / 2; m >= 1; m /= 2) {
    const int peer = f.realRank(v ^ m), mid = lo + m;
    const int keep0 = (v & m) ? mid : lo, give0 = (v & m) ? lo : mid;
    Span give = span(loc, give0, give0 + m), keepSrc = span(loc, keep0, keep0 + m);
    // The last step lands a single-block group straight in Output.
    Span keepDst = (m == 1 && !f.proxy()) ? out(0, blk) : span(sched::Buf::Scratch, keep0, keep0 + m);
    uint32_t sent = s.add(send(peer, give), deps({last}));
    last = s.add(recvReduce(peer, keepSrc, keepDst), deps({last}));
    (void)sent;
    loc = sched::Buf::Scratch;
    lo = keep0;
  }
  if (f.proxy()) {
    s.add(copy(scratch(a.rank * blk, blk), out(0, blk)), {last});
    s.add(send(a.rank - 1, scratch((a.rank - 1) * blk, blk)), {last});
  }
  return Status::ok();
}

Status rhdAllGather(const CollArgs& a, Schedule& s) {
  const int n = a.nranks, r = a.rank;
  const size_t es = a.elemSize, blk = a.count * es;
  if (a.count == 0) return Status::ok();
  uint32_t own = s.add(copy(in(0, blk), out(r * blk, blk)));  // a no-op in place
  if (n == 1) return Status::ok();
  Fold f(n, r);
  if (f.extra()) {
    s.add(send(r + 1, in(0, blk)));
    // Everything but this rank's own block, which in place is the Input just sent.
    if (r > 0) s.add(recv(r + 1, out(0, r * blk)));
    s.add(recv(r + 1, out((r + 1) * blk, (n - r - 1) * blk)));
    return Status::ok();
  }
  uint32_t folded = f.proxy() ? s.add(recv(r - 1, out((r - 1) * blk, blk))) : kNoStep;
  auto span = [&](int g0, int g1) {
    size_t b = f.groupStart(g0) * blk, e = (g1 == f.p ? n : f.groupStart(g1)) * blk;
    return out(b, e - b);
  };
  const int v = f.newRank();
  uint32_t lastRecv = kNoStep, lastSend = kNoStep;
  for (int m = 1; m < f.p; m *= 2) {
    const int pv = v ^ m, peer = f.realRank(pv);
    const int mine0 = v & ~(m - 1), theirs0 = pv & ~(m - 1);
    // The first step sends this rank's own block: from Input, which is at rest (so a single-copy
    // candidate, shm_cma.cpp) and needs no wait for the copy into Output. From Output, a 2-rank
    // allgather of 512 KiB went through the ring at 34 us, against 17 us for the ring algorithm.
    if (m == 1 && !f.proxy()) lastSend = s.add(send(peer, in(0, blk)));
    else lastSend = s.add(send(peer, span(mine0, mine0 + m)), deps({own, folded, lastRecv, lastSend}));
    lastRecv = s.add(recv(peer, span(theirs0, theirs0 + m)));
  }
  if (f.proxy()) {
    if (r - 1 > 0) s.add(send(r - 1, out(0, (r - 1) * blk)), deps({lastRecv, lastSend}));
    s.add(send(r - 1, out(r * blk, (n - r) * blk)), deps({lastRecv, lastSend}));
  }
  return Status::ok();
}

}  // namespace loom::algo::detail

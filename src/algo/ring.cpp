// Ring and chain algorithms: the bandwidth-optimal family for large messages.
//
// Allreduce (n ranks, B bytes per rank) is a reduce-scatter followed by an allgather around the
// ring r -> r+1. The buffer is cut into n blocks (balanced, so count < n or count % n != 0 just
// gives uneven or empty blocks), and each block into chunks of chunkBytes. At reduce-scatter step
// s rank r sends block r-1-s and folds block r-2-s arriving from r-1 straight into Output
// (RecvReduce, no staging copy); after n-1 steps rank r owns reduced block r, which the allgather
// steps then pass around. The loops are step-outer, chunk-inner and a chunk's step s+1 depends
// only on the same chunk's step s, so successive chunks follow one another around the ring.
//   cost: 2(n-1) steps; bytes sent per rank 2(n-1)/n * B; reduced per rank (n-1)/n * B.
//   alpha-beta: 2(n-1)(alpha + B/n beta) + (n-1)/n B gamma, plus (C-1)(alpha + chunk beta)
//   of pipeline fill for C chunks per block.
// Allgather / reducescatter are the two halves on their own ((n-1) steps, (n-1) B bytes sent;
// reducescatter keeps partial sums in two scratch slots that alternate between steps).
// Broadcast is a pipelined chain root -> root+1 -> ... -> root-1; reduce the same chain run
// backwards into root. Both: (n-1 + C-1) steps of one chunk; B bytes sent per rank.
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

// Dependency list of at most one earlier step.
std::vector<uint32_t> after(uint32_t i) { return i == kNoStep ? std::vector<uint32_t>{} : std::vector<uint32_t>{i}; }
}  // namespace

Status ringAllReduce(const CollArgs& a, Schedule& s) {
  const int n = a.nranks, r = a.rank;
  const size_t es = a.elemSize, bytes = a.count * es;
  if (a.count == 0) return Status::ok();
  if (n == 1) {
    s.add(copy(in(0, bytes), out(0, bytes)));
    return Status::ok();
  }
  const int next = mod(r + 1, n), prev = mod(r - 1, n);
  const size_t ce = chunkElemsOf(a);
  const size_t nc = numChunks(balanced(a.count, n, 0).len, ce);  // block 0 is the largest
  auto chunk = [&](int b, size_t c) { return chunkOf(balanced(a.count, n, b), ce, c); };
  std::vector<uint32_t> rsSend(n * nc, kNoStep), lastWrite(n * nc, kNoStep);
  auto id = [&](int b, size_t c) { return static_cast<size_t>(b) * nc + c; };

  for (int st = 0; st < n - 1; ++st) {  // reduce-scatter
    const int sb = mod(r - 1 - st, n), rb = mod(r - 2 - st, n);
    for (size_t c = 0; c < nc; ++c) {
      Range x = chunk(sb, c);
      if (x.len) {
        Span src = st == 0 ? in(x.begin * es, x.len * es) : out(x.begin * es, x.len * es);
        rsSend[id(sb, c)] = s.add(send(next, src), after(st == 0 ? kNoStep : lastWrite[id(sb, c)]));
      }
      Range y = chunk(rb, c);
      if (y.len)
        lastWrite[id(rb, c)] = s.add(recvReduce(prev, in(y.begin * es, y.len * es), out(y.begin * es, y.len * es)));
    }
  }
  for (int st = 0; st < n - 1; ++st) {  // allgather
    const int sb = mod(r - st, n), rb = mod(r - st - 1, n);
    for (size_t c = 0; c < nc; ++c) {
      Range x = chunk(sb, c);
      if (x.len) s.add(send(next, out(x.begin * es, x.len * es)), after(lastWrite[id(sb, c)]));
      Range y = chunk(rb, c);
      // Waits for this block's reduce-scatter send: in place, it read these very bytes.
      if (y.len) lastWrite[id(rb, c)] = s.add(recv(prev, out(y.begin * es, y.len * es)), after(rsSend[id(rb, c)]));
    }
  }
  return Status::ok();
}

Status ringAllGather(const CollArgs& a, Schedule& s) {
  const int n = a.nranks, r = a.rank;
  const size_t es = a.elemSize, blk = a.count * es;
  if (a.count == 0) return Status::ok();
  s.add(copy(in(0, blk), out(r * blk, blk)));  // a no-op in place
  if (n == 1) return Status::ok();
  const int next = mod(r + 1, n), prev = mod(r - 1, n);
  const size_t ce = chunkElemsOf(a), nc = numChunks(a.count, ce);
  std::vector<uint32_t> got(n * nc, kNoStep);
  for (int st = 0; st < n - 1; ++st) {
    const int sb = mod(r - st, n), rb = mod(r - st - 1, n);
    for (size_t c = 0; c < nc; ++c) {
      Range x = chunkOf({0, a.count}, ce, c);
      if (st == 0) s.add(send(next, in(x.begin * es, x.len * es)));
      else s.add(send(next, out(sb * blk + x.begin * es, x.len * es)), after(got[sb * nc + c]));
      got[rb * nc + c] = s.add(recv(prev, out(rb * blk + x.begin * es, x.len * es)));
    }
  }
  return Status::ok();
}

Status ringReduceScatter(const CollArgs& a, Schedule& s) {
  const int n = a.nranks, r = a.rank;
  const size_t es = a.elemSize, blk = a.count * es;
  if (a.count == 0) return Status::ok();
  if (n == 1) {
    s.add(copy(in(0, blk), out(0, blk)));
    return Status::ok();
  }
  const int next = mod(r + 1, n), prev = mod(r - 1, n);
  const size_t ce = chunkElemsOf(a), nc = numChunks(a.count, ce);
  if (n > 2) s.scratchBytes = 2 * blk;  // partial sums alternate between two slots
  std::vector<uint32_t> lastRecv(nc, kNoStep), lastSend(nc, kNoStep), prevSend(nc, kNoStep);
  for (int st = 0; st < n - 1; ++st) {
    const int sb = mod(r - 1 - st, n), rb = mod(r - 2 - st, n);
    const bool final = st == n - 2;
    for (size_t c = 0; c < nc; ++c) {
      Range x = chunkOf({0, a.count}, ce, c);
      const size_t off = x.begin * es, len = x.len * es;
      prevSend[c] = lastSend[c];
      if (st == 0) lastSend[c] = s.add(send(next, in(sb * blk + off, len)));
      else lastSend[c] = s.add(send(next, scratch(((st - 1) % 2) * blk + off, len)), after(lastRecv[c]));
      Span dst = final ? out(off, len) : scratch((st % 2) * blk + off, len);
      // The slot written now was read by the previous step's send.
      lastRecv[c] = s.add(recvReduce(prev, in(rb * blk + off, len), dst), after(st >= 2 ? prevSend[c] : kNoStep));
    }
  }
  return Status::ok();
}

Status chainBroadcast(const CollArgs& a, Schedule& s) {
  const int n = a.nranks, r = a.rank;
  const size_t es = a.elemSize, bytes = a.count * es;
  if (a.count == 0) return Status::ok();
  const int pos = mod(r - a.root, n), next = mod(r + 1, n), prev = mod(r - 1, n);
  const size_t ce = chunkElemsOf(a), nc = numChunks(a.count, ce);
  if (pos == 0) s.add(copy(in(0, bytes), out(0, bytes)));
  for (size_t c = 0; c < nc; ++c) {
    Range x = chunkOf({0, a.count}, ce, c);
    const size_t off = x.begin * es, len = x.len * es;
    if (pos == 0) {
      if (n > 1) s.add(send(next, in(off, len)));
      continue;
    }
    uint32_t got = s.add(recv(prev, out(off, len)));
    if (pos < n - 1) s.add(send(next, out(off, len)), {got});
  }
  return Status::ok();
}

Status chainReduce(const CollArgs& a, Schedule& s) {
  const int n = a.nranks, r = a.rank;
  const size_t es = a.elemSize, bytes = a.count * es;
  if (a.count == 0) return Status::ok();
  if (n == 1) {
    s.add(copy(in(0, bytes), out(0, bytes)));
    return Status::ok();
  }
  // Data flows from position n-1 down to the root (position 0): rank r sends to r-1.
  const int pos = mod(r - a.root, n), down = mod(r - 1, n), up = mod(r + 1, n);
  const size_t ce = chunkElemsOf(a), nc = numChunks(a.count, ce);
  if (pos > 0 && pos < n - 1) s.scratchBytes = bytes;
  for (size_t c = 0; c < nc; ++c) {
    Range x = chunkOf({0, a.count}, ce, c);
    const size_t off = x.begin * es, len = x.len * es;
    if (pos == n - 1) {
      s.add(send(down, in(off, len)));
    } else if (pos == 0) {
      s.add(recvReduce(up, in(off, len), out(off, len)));
    } else {
      uint32_t acc = s.add(recvReduce(up, in(off, len), scratch(off, len)));
      s.add(send(down, scratch(off, len)), {acc});
    }
  }
  return Status::ok();
}

}  // namespace loom::algo::detail

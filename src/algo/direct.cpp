// Direct algorithms: every rank talks straight to the ranks it exchanges data with.
//
// Alltoall(v) by pairwise exchange: at step k = 1..n-1 rank r sends its block for (r+k) mod n
// and receives the block from (r-k) mod n, so each step is a permutation and no rank is hit by
// two senders at once; the own block is a local copy. In place, the blocks to send are first
// staged into scratch (a receive may land on bytes not yet sent).
//   cost: n-1 steps; (n-1) B bytes sent per rank: (n-1)(alpha + B beta) when links are busy one
//   at a time, all steps are independent so a transport may overlap them.
// Allgather by pairwise exchange: rank r sends its input to every peer (r+k for k = 1..n-1, as
//   alltoall orders it) and receives each peer's block straight into its place in Output. Every
//   message leaves from the user's input, so on shared memory each can go single copy: a rank
//   copies each block once, where a ring forwards n-2 of them through its rings (two copies each).
//   cost: n-1 steps; (n-1) B bytes sent per rank, all independent.
// Linear gather / scatter: the root receives from (sends to) every rank; root link carries
//   (n-1) B: alpha + (n-1) B beta with full overlap, no forwarding hops.
// Flat broadcast: the root sends the whole buffer to every rank. No rank forwards, so a receiver
//   waits only for the root: on a host with more ranks than cores a tree's forwarding hop waits
//   for the scheduler, which costs more than the root's extra sends of a small message.
//   cost: alpha + (n-1) B beta at the root.
// One-shot allreduce: every rank sends its whole input to every other rank and sums the n
//   contributions itself, in rank order 0..n-1, so every rank computes the same bits. One round
//   of independent messages instead of log n dependent ones, which is what a small message pays
//   for on a host with more ranks than cores (each dependent round waits for the scheduler).
//   Contributions are reduced straight out of the transport into the output.
//   cost: alpha + (n-1) B beta sent and received per rank, (n-1) B gamma; scratch B in place.
// SendRecv: one Send or Recv step per P2pOp, in the given order, no dependencies among them.
//   A rank's sends to itself are paired in order with its receives from itself and become
//   copies, so no schedule ever sends to its own rank.
#include <fmt/format.h>

#include <vector>

#include "algo/generators.hpp"

namespace loom::algo::detail {

using sched::copy;
using sched::in;
using sched::out;
using sched::recv;
using sched::Schedule;
using sched::scratch;
using sched::send;

namespace {
bool overlap(size_t a, size_t alen, size_t b, size_t blen) { return alen && blen && a < b + blen && b < a + alen; }
}  // namespace

Status directAllReduce(const CollArgs& a, Schedule& s) {
  const int n = a.nranks, r = a.rank;
  const size_t b = a.count * a.elemSize;
  if (b == 0) return Status::ok();
  // In place, Output (= Input) is rewritten below while sends may still read it: send a copy.
  std::vector<uint32_t> mineReady;
  sched::Span mine = in(0, b);
  if (a.inPlace) {
    s.scratchBytes = b;
    mine = scratch(0, b);
    mineReady.push_back(s.add(copy(in(0, b), mine)));
  }
  for (int k = 1; k < n; ++k) s.add(send((r + k) % n, mine), mineReady);  // staggered: one sender per rank a round
  // Output accumulates the contributions in rank order, each reduced straight out of the
  // transport (no staging copy); a message that arrives early waits in its slot.
  const sched::Span acc = out(0, b);
  uint32_t last;
  if (r == 0) {
    last = a.inPlace ? mineReady.back() : s.add(copy(mine, acc));
  } else {
    last = s.add(recv(0, acc), mineReady);  // in place: after Input was copied
  }
  for (int p = 1; p < n; ++p) {
    last = p == r ? s.add(sched::reduce(mine, acc), {last}) : s.add(sched::recvReduce(p, acc, acc), {last});
  }
  return Status::ok();
}

Status directAllToAll(const CollArgs& a, Schedule& s) {
  const int n = a.nranks, r = a.rank;
  const size_t es = a.elemSize;
  std::vector<size_t> sc = a.sendCounts, sd = a.sendDispls, rc = a.recvCounts, rd = a.recvDispls;
  if (a.coll == Coll::AllToAll) {
    sc.assign(n, a.count);
    rc.assign(n, a.count);
    sd.resize(n);
    rd.resize(n);
    for (int j = 0; j < n; ++j) sd[j] = rd[j] = j * a.count;
  }
  if (sc[r] != rc[r])
    return invalidArgument(fmt::format("alltoallv: rank {} sends {} elements to itself but receives {}", r, sc[r], rc[r]));
  // In place, stage every outgoing block (except an own block that does not move) in scratch.
  const bool staged = a.inPlace;
  std::vector<size_t> stageOff(n, 0);
  std::vector<uint32_t> staging(n, UINT32_MAX);
  if (staged) {
    size_t off = 0;
    for (int j = 0; j < n; ++j) {
      if (sc[j] == 0 || (j == r && sd[j] == rd[j])) continue;
      stageOff[j] = off;
      staging[j] = s.add(copy(in(sd[j] * es, sc[j] * es), scratch(off, sc[j] * es)));
      off += sc[j] * es;
    }
    s.scratchBytes = off;
  }
  // A write to Output waits for every staging copy that reads the same bytes.
  auto writeDeps = [&](size_t off, size_t len) {
    std::vector<uint32_t> d;
    for (int j = 0; j < n; ++j)
      if (staging[j] != UINT32_MAX && overlap(sd[j] * es, sc[j] * es, off, len)) d.push_back(staging[j]);
    return d;
  };
  if (rc[r]) {
    if (staged && staging[r] != UINT32_MAX) {
      auto d = writeDeps(rd[r] * es, rc[r] * es);
      d.push_back(staging[r]);
      s.add(copy(scratch(stageOff[r], sc[r] * es), out(rd[r] * es, rc[r] * es)), d);
    }
    else if (!staged)
      s.add(copy(in(sd[r] * es, sc[r] * es), out(rd[r] * es, rc[r] * es)));
  }
  for (int k = 1; k < n; ++k) {
    const int to = mod(r + k, n), from = mod(r - k, n);
    if (sc[to]) {
      if (staged) s.add(send(to, scratch(stageOff[to], sc[to] * es)), {staging[to]});
      else s.add(send(to, in(sd[to] * es, sc[to] * es)));
    }
    if (rc[from]) s.add(recv(from, out(rd[from] * es, rc[from] * es)), writeDeps(rd[from] * es, rc[from] * es));
  }
  return Status::ok();
}

Status directGather(const CollArgs& a, Schedule& s) {
  const size_t blk = a.count * a.elemSize;
  if (a.count == 0) return Status::ok();
  if (a.rank != a.root) {
    s.add(send(a.root, in(0, blk)));
    return Status::ok();
  }
  s.add(copy(in(0, blk), out(a.rank * blk, blk)));  // a no-op in place
  for (int k = 1; k < a.nranks; ++k) {
    const int j = mod(a.rank + k, a.nranks);
    s.add(recv(j, out(j * blk, blk)));
  }
  return Status::ok();
}

namespace {
// Scatter and flat broadcast: the root sends rank j its block j (or the whole buffer to every
// rank), then keeps its own part; every other rank receives once.
Status rootSendsToAll(const CollArgs& a, Schedule& s, bool wholeBuffer) {
  const size_t blk = a.count * a.elemSize;
  if (a.count == 0) return Status::ok();
  if (a.rank != a.root) {
    s.add(recv(a.root, out(0, blk)));
    return Status::ok();
  }
  auto part = [&](int j) { return in(wholeBuffer ? 0 : j * blk, blk); };
  for (int k = 1; k < a.nranks; ++k) {
    const int j = mod(a.rank + k, a.nranks);
    s.add(send(j, part(j)));
  }
  s.add(copy(part(a.rank), out(0, blk)));  // a no-op in place
  return Status::ok();
}
}  // namespace

Status directScatter(const CollArgs& a, Schedule& s) { return rootSendsToAll(a, s, false); }

Status directBroadcast(const CollArgs& a, Schedule& s) { return rootSendsToAll(a, s, true); }

Status directSendRecv(const CollArgs& a, Schedule& s) {
  std::vector<const P2pOp*> selfSends;
  size_t selfRecvs = 0;
  for (const P2pOp& op : a.p2p)
    if (op.peer == a.rank && op.isSend) selfSends.push_back(&op);
  for (size_t i = 0; i < a.p2p.size(); ++i) {
    const P2pOp& op = a.p2p[i];
    if (op.peer != a.rank) {
      s.add(op.isSend ? send(op.peer, in(op.offset, op.bytes)) : recv(op.peer, out(op.offset, op.bytes)));
      continue;
    }
    if (op.isSend) continue;
    if (selfRecvs >= selfSends.size())
      return invalidArgument(fmt::format("p2p op {}: receive from self (rank {}) without a matching send", i, a.rank));
    const P2pOp& snd = *selfSends[selfRecvs++];
    if (snd.bytes != op.bytes)
      return invalidArgument(fmt::format("p2p op {}: receive from self of {} bytes matches a send of {}", i, op.bytes,
                                         snd.bytes));
    s.add(copy(in(snd.offset, snd.bytes), out(op.offset, op.bytes)));
  }
  if (selfRecvs != selfSends.size())
    return invalidArgument(fmt::format("rank {} sends to itself {} times but receives {}", a.rank, selfSends.size(),
                                       selfRecvs));
  return Status::ok();
}

Status directAllGather(const CollArgs& a, Schedule& s) {
  const int n = a.nranks, r = a.rank;
  const size_t blk = a.count * a.elemSize;
  if (a.count == 0) return Status::ok();
  s.add(copy(in(0, blk), out(r * blk, blk)));  // a no-op in place
  // In place, Input is Output's own block, which no receive writes.
  for (int k = 1; k < n; ++k) {
    const int to = mod(r + k, n), from = mod(r - k, n);
    s.add(send(to, in(0, blk)));
    s.add(recv(from, out(from * blk, blk)));
  }
  return Status::ok();
}

}  // namespace loom::algo::detail

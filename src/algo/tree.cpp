// Binomial trees: the latency-optimal family for small messages.
//
// Ranks are renumbered relative to the root (v = r - root mod n). Distance halving (the
// default): the parent of v is v with its lowest set bit cleared; its children are v + m for
// every power of two m below that bit (all m < n for the root), so the subtree of v holds the
// relative ranks [v, v + min(lowbit v, n - v)). Distance doubling (broadcast and reduce with
// CollArgs::neighboursFirst): the parent clears the highest set bit; the children are v + m for
// every power of two m above it; subtrees are not contiguous, so gather and scatter never use it.
//   broadcast: ceil(log2 n) steps of B bytes: ceil(log2 n)(alpha + B beta); a rank sends to each
//              child (largest subtree first), so the root sends ceil(log2 n) B bytes.
//   reduce:    the mirror image, children folded in with RecvReduce (non-root accumulators
//              live in scratch): ceil(log2 n)(alpha + B beta + B gamma).
//   gather:    each rank forwards its whole subtree, kept in relative order in scratch:
//              ceil(log2 n) alpha + (n-1) B beta at the root; a message to the root is split in
//              two where the relative order wraps past rank n-1 so it lands in place in Output.
//   scatter:   the mirror image of gather.
//   allreduce: reduce to rank 0 then broadcast from it: 2 ceil(log2 n)(alpha + B beta) + ...
#include <algorithm>
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

struct Binomial {
  int n, root, v;
  bool doubling;  // CollArgs::neighboursFirst; gather and scatter need halving's contiguous subtrees
  Binomial(int nranks, int rootRank, int rank, bool distanceDoubling = false)
      : n(nranks), root(rootRank), v(mod(rank - rootRank, nranks)), doubling(distanceDoubling) {}
  int real(int u) const { return mod(u + root, n); }
  static int lowbit(int u) { return u & -u; }
  static int highbit(int u) { return u ? 1 << (31 - __builtin_clz(static_cast<unsigned>(u))) : 0; }
  int parent() const { return doubling ? v - highbit(v) : v - lowbit(v); }
  int size(int u) const { return u == 0 ? n : std::min(lowbit(u), n - u); }  // halving only
  // Children of v in the order a reduce folds them in (a broadcast sends in reverse): for a
  // power-of-two n, smallest subtree first.
  std::vector<int> children() const {
    std::vector<int> c;
    if (doubling) {  // the farthest child has the fewest below it: it comes first
      for (int m = v == 0 ? 1 : 2 * highbit(v); m < n && v + m < n; m *= 2) c.insert(c.begin(), v + m);
      return c;
    }
    for (int m = 1; m < n && (v == 0 || m < lowbit(v)) && v + m < n; m *= 2) c.push_back(v + m);
    return c;
  }
  // Relative interval [x, y) cut where the absolute ranks wrap from n-1 to 0 (halving only).
  std::vector<Range> pieces(int x, int y) const {
    const int wrap = n - root;
    if (root > 0 && x < wrap && wrap < y) return {{size_t(x), size_t(wrap - x)}, {size_t(wrap), size_t(y - wrap)}};
    return {{size_t(x), size_t(y - x)}};
  }
};

// Broadcast and reduce trees pair neighbours first (distance doubling) where asked
// (CollArgs::neighboursFirst: more ranks than cores on one host), else distance halving.
// loomrun binds crowded ranks round-robin (rank r on CPU r mod cores), so with halving the root's
// first send (to v + n/2; a reduce's last receive, mirrored) went to a rank on its own CPU while
// it was the only transfer running: 4 ranks on 2 cores broadcast 64 MiB about 1.2x slower than
// the chain, and no slower unbound. Elsewhere halving is kept: ranks come in blocks per host or
// per socket, and from a root at the start of a block halving crosses between two blocks once,
// first, where doubling crosses n/2 times at once in its last step.

// Reduce towards `root`; returns the step that completes this rank's part (the send to the
// parent, or at the root the last write of Output).
uint32_t reduceUp(const CollArgs& a, int root, Schedule& s) {
  const size_t bytes = a.count * a.elemSize;
  Binomial t(a.nranks, root, a.rank, a.neighboursFirst);
  auto kids = t.children();
  if (kids.empty()) return t.v == 0 ? s.add(copy(in(0, bytes), out(0, bytes))) : s.add(send(t.real(t.parent()), in(0, bytes)));
  Span acc = t.v == 0 ? out(0, bytes) : scratch(0, bytes);
  if (t.v != 0) s.scratchBytes = std::max(s.scratchBytes, bytes);
  uint32_t last = s.add(recvReduce(t.real(kids[0]), in(0, bytes), acc));
  for (size_t i = 1; i < kids.size(); ++i) last = s.add(recvReduce(t.real(kids[i]), acc, acc), {last});
  return t.v == 0 ? last : s.add(send(t.real(t.parent()), acc), {last});
}

// Broadcast from `root`; the root sends from Input (or from Output when `rootFromOutput`).
void broadcastDown(const CollArgs& a, int root, bool rootFromOutput, uint32_t after, Schedule& s) {
  const size_t bytes = a.count * a.elemSize;
  Binomial t(a.nranks, root, a.rank, a.neighboursFirst);
  std::vector<uint32_t> ready;
  if (after != kNoStep) ready.push_back(after);
  Span src = out(0, bytes);
  if (t.v == 0) {
    if (!rootFromOutput) {
      s.add(copy(in(0, bytes), out(0, bytes)));
      src = in(0, bytes);
    }
  } else {
    ready = {s.add(recv(t.real(t.parent()), out(0, bytes)), ready)};
  }
  auto kids = t.children();
  for (auto it = kids.rbegin(); it != kids.rend(); ++it) s.add(send(t.real(*it), src), ready);
}

}  // namespace

Status treeBroadcast(const CollArgs& a, Schedule& s) {
  if (a.count) broadcastDown(a, a.root, false, kNoStep, s);
  return Status::ok();
}

Status treeReduce(const CollArgs& a, Schedule& s) {
  if (a.count) reduceUp(a, a.root, s);
  return Status::ok();
}

Status treeAllReduce(const CollArgs& a, Schedule& s) {
  if (a.count == 0) return Status::ok();
  // In place, a leaf's send reads the Output the broadcast later overwrites: order them.
  uint32_t done = reduceUp(a, 0, s);
  broadcastDown(a, 0, true, done, s);
  return Status::ok();
}

Status treeGather(const CollArgs& a, Schedule& s) {
  const size_t blk = a.count * a.elemSize;
  if (a.count == 0) return Status::ok();
  Binomial t(a.nranks, a.root, a.rank);
  auto kids = t.children();
  if (t.v == 0) {
    s.add(copy(in(0, blk), out(a.root * blk, blk)));  // a no-op in place
    for (int c : kids)
      for (Range p : t.pieces(c, c + t.size(c))) s.add(recv(t.real(c), out(t.real(int(p.begin)) * blk, p.len * blk)));
    return Status::ok();
  }
  const int parent = t.real(t.parent()), sz = t.size(t.v);
  if (kids.empty()) {
    s.add(send(parent, in(0, blk)));
    return Status::ok();
  }
  s.scratchBytes = sz * blk;  // the subtree's blocks in relative order
  std::vector<uint32_t> ready = {s.add(copy(in(0, blk), scratch(0, blk)))};
  for (int c : kids) ready.push_back(s.add(recv(t.real(c), scratch((c - t.v) * blk, t.size(c) * blk))));
  auto parts = t.parent() == 0 ? t.pieces(t.v, t.v + sz) : std::vector<Range>{{size_t(t.v), size_t(sz)}};
  for (Range p : parts) s.add(send(parent, scratch((p.begin - t.v) * blk, p.len * blk)), ready);
  return Status::ok();
}

Status treeScatter(const CollArgs& a, Schedule& s) {
  const size_t blk = a.count * a.elemSize;
  if (a.count == 0) return Status::ok();
  Binomial t(a.nranks, a.root, a.rank);
  auto kids = t.children();
  if (t.v == 0) {
    for (auto it = kids.rbegin(); it != kids.rend(); ++it)
      for (Range p : t.pieces(*it, *it + t.size(*it))) s.add(send(t.real(*it), in(t.real(int(p.begin)) * blk, p.len * blk)));
    s.add(copy(in(a.root * blk, blk), out(0, blk)));  // a no-op in place
    return Status::ok();
  }
  const int parent = t.real(t.parent()), sz = t.size(t.v);
  if (kids.empty()) {
    s.add(recv(parent, out(0, blk)));
    return Status::ok();
  }
  s.scratchBytes = sz * blk;
  std::vector<uint32_t> ready;
  auto parts = t.parent() == 0 ? t.pieces(t.v, t.v + sz) : std::vector<Range>{{size_t(t.v), size_t(sz)}};
  for (Range p : parts) ready.push_back(s.add(recv(parent, scratch((p.begin - t.v) * blk, p.len * blk))));
  for (auto it = kids.rbegin(); it != kids.rend(); ++it)
    s.add(send(t.real(*it), scratch((*it - t.v) * blk, t.size(*it) * blk)), ready);
  s.add(copy(scratch(0, blk), out(0, blk)), ready);
  return Status::ok();
}

}  // namespace loom::algo::detail

// Hierarchical algorithms: ranks on several hosts (CollArgs::hostOf) talk over shared memory
// inside a host and over the network between hosts, and the network is the scarce link. So
// each collective does its bulk work inside hosts and crosses hosts as little as possible.
// Hosts are the distinct hostOf values (ascending); a host's local ranks are in ascending rank
// order; local rank 0 leads. H hosts, L ranks per host when all hosts are equal, n = H L ranks,
// B bytes per rank; every phase is a ring or chain from hier_parts.hpp, pipelined in chunks.
//
// Rail form (every host has L ranks): local rank i of every host forms rail i, one inter-host
// ring per local index, so every rank drives its own network connection (one NIC each).
//   allreduce: intra-host ring reduce-scatter into L shards (rank i keeps shard i); rail i
//     ring-allreduces shard i across hosts; intra-host ring allgather of the shards.
//     steps 2(L-1) + 2(H-1); intra bytes sent per rank 2(L-1)/L B; inter bytes per rank
//     2(H-1)/(H L) B, in all exactly 2(H-1) B (flat ring: 2(n-1)/n B per ring link that
//     crosses hosts, up to 2(n-1) B when every link does).
//   allgather: rail ring allgather of single blocks (H-1 steps, inter (H-1) B per rank), then
//     intra-host ring allgather where rank i passes on its rail's H blocks ((L-1) H B per rank).
//   reducescatter: intra-host ring reduce-scatter where rank i accumulates the H blocks of its
//     rail (in scratch), then a rail ring reduce-scatter of those blocks: inter (H-1) B per rank.
//     Scratch: the H-block set plus two alternating slots (up to 3 H B + 2 B).
// Leader form (unequal hosts): allreduce = pipelined chain reduce to the leader, leaders' ring
//   allreduce, chain broadcast from the leader (inter 2(H-1)/H B per leader); allgather =
//   intra-host ring allgather, leaders' ring allgather of whole hosts, chain broadcast of the
//   other hosts' blocks; reducescatter = chain reduce of all n blocks into the leader (scratch
//   n B), leaders' ring reduce-scatter of whole hosts, the leader sends each local its block.
// Broadcast (any shape): chain root -> leader of each other host (root leads its own host),
//   then a chain inside each host from its leader: inter (H-1) B in all, (n-1) + (C-1) steps.
// One host (or hostOf empty) degenerates to the intra-host phases: ring / chain algorithms.
#include <algorithm>
#include <map>
#include <vector>

#include "algo/hier_parts.hpp"

namespace loom::algo::detail {

using sched::copy;
using sched::in;
using sched::out;
using sched::recv;
using sched::Schedule;
using sched::scratch;
using sched::send;
using sched::Span;

namespace {

struct Topo {
  std::vector<std::vector<int>> hosts;  // local ranks per host, ascending
  int host = 0, local = 0;              // this rank's
  bool rail = true;                     // every host has the same number of ranks
  int H() const { return static_cast<int>(hosts.size()); }
  int L() const { return static_cast<int>(hosts[host].size()); }
  const std::vector<int>& mine() const { return hosts[host]; }
  std::vector<int> railOf(int i) const {
    std::vector<int> v;
    for (const auto& h : hosts) v.push_back(h[i]);
    return v;
  }
  std::vector<int> leaders() const { return railOf(0); }
};

Topo topoOf(const CollArgs& a) {
  std::map<int, std::vector<int>> byHost;
  for (int r = 0; r < a.nranks; ++r) byHost[a.hostOf.empty() ? 0 : a.hostOf[r]].push_back(r);
  Topo t;
  for (auto& [id, ranks] : byHost) {
    for (size_t i = 0; i < ranks.size(); ++i)
      if (ranks[i] == a.rank) t.host = t.H(), t.local = static_cast<int>(i);
    t.hosts.push_back(std::move(ranks));
    t.rail = t.rail && t.hosts.back().size() == t.hosts.front().size();
  }
  return t;
}

// Span makers over element ranges (logical coordinates equal to the buffer's element index).
SpanOf inAt(size_t es) {
  return [es](Range x, size_t, int, bool) { return in(x.begin * es, x.len * es); };
}
SpanOf outAt(size_t es) {
  return [es](Range x, size_t, int, bool) { return out(x.begin * es, x.len * es); };
}
SpanOf scratchAt(size_t es, size_t base = 0) {
  return [es, base](Range x, size_t, int, bool) { return scratch((base + x.begin) * es, x.len * es); };
}

Range shifted(Range r, size_t by) { return {r.begin + by, r.len}; }

// blocks[q] = the balanced piece q of `whole` cut into `parts`.
std::vector<std::vector<Range>> balancedBlocks(Range whole, int parts) {
  std::vector<std::vector<Range>> b(parts);
  for (int q = 0; q < parts; ++q) addSeg(b[q], shifted(balanced(whole.len, parts, q), whole.begin));
  return b;
}

// Every rank's block g * count of an n-block buffer, grouped as `owners` says.
std::vector<std::vector<Range>> rankBlocks(const std::vector<std::vector<int>>& owners, size_t count) {
  std::vector<std::vector<Range>> b(owners.size());
  for (size_t q = 0; q < owners.size(); ++q)
    for (int g : owners[q]) addSeg(b[q], {g * count, count});
  return b;
}

// Ring allreduce of `whole` among `group` (position me): contrib holds this rank's operand,
// acc (which may be the same memory) receives the result.
void ringAllReduceOn(Emitter& e, const std::vector<int>& group, int me, Range whole, const SpanOf& contrib,
                     const SpanOf& acc) {
  SubRing g{group, me, balancedBlocks(whole, static_cast<int>(group.size()))};
  ringReduceScatterOn(e, g, contrib, acc);
  ringAllGatherOn(e, g, acc);
}

}  // namespace

Status hierAllReduce(const CollArgs& a, Schedule& s) {
  if (a.count == 0) return Status::ok();
  const size_t es = a.elemSize, n = a.count;
  Emitter e(a, s);
  if (a.nranks == 1) {
    e.add(copy(in(0, n * es), out(0, n * es)));
    return Status::ok();
  }
  const Topo t = topoOf(a);
  const Range all{0, n};
  if (t.rail) {
    const int L = t.L(), H = t.H();
    SubRing intra{t.mine(), t.local, balancedBlocks(all, L)};
    ringReduceScatterOn(e, intra, inAt(es), outAt(es));
    const Range shard = intra.blocks[t.local].empty() ? Range{} : intra.blocks[t.local][0];
    if (H > 1) ringAllReduceOn(e, t.railOf(t.local), t.host, shard, L > 1 ? outAt(es) : inAt(es), outAt(es));
    ringAllGatherOn(e, intra, outAt(es));
    return Status::ok();
  }
  // Leader form: the sum of the host in the leader's Output, then leaders, then back out.
  const bool alone = t.L() == 1;
  chainReduceOn(e, t.mine(), t.local, {all}, inAt(es), outAt(es));
  if (t.local == 0) ringAllReduceOn(e, t.leaders(), t.host, all, alone ? inAt(es) : outAt(es), outAt(es));
  chainBroadcastOn(e, t.mine(), t.local, {all}, outAt(es), outAt(es));
  return Status::ok();
}

Status hierAllGather(const CollArgs& a, Schedule& s) {
  if (a.count == 0) return Status::ok();
  const size_t es = a.elemSize, n = a.count, blk = n * es;
  Emitter e(a, s);
  e.add(copy(in(0, blk), out(a.rank * blk, blk)));  // skipped in place
  const Topo t = topoOf(a);
  const int L = t.L(), H = t.H();
  if (t.rail) {
    std::vector<std::vector<int>> railOwners(H), hostOwners(L);
    for (int h = 0; h < H; ++h) railOwners[h] = {t.hosts[h][t.local]};
    for (int i = 0; i < L; ++i) hostOwners[i] = t.railOf(i);
    ringAllGatherOn(e, {t.railOf(t.local), t.host, rankBlocks(railOwners, n)}, outAt(es));
    ringAllGatherOn(e, {t.mine(), t.local, rankBlocks(hostOwners, n)}, outAt(es));
    return Status::ok();
  }
  std::vector<std::vector<int>> locals(L);
  for (int i = 0; i < L; ++i) locals[i] = {t.mine()[i]};
  ringAllGatherOn(e, {t.mine(), t.local, rankBlocks(locals, n)}, outAt(es));
  if (t.local == 0) ringAllGatherOn(e, {t.leaders(), t.host, rankBlocks(t.hosts, n)}, outAt(es));
  std::vector<int> others;  // the ranks of every other host, whose blocks come via the leader
  for (int h = 0; h < H; ++h)
    if (h != t.host) others.insert(others.end(), t.hosts[h].begin(), t.hosts[h].end());
  std::sort(others.begin(), others.end());
  chainBroadcastOn(e, t.mine(), t.local, rankBlocks({others}, n)[0], outAt(es), outAt(es));
  return Status::ok();
}

Status hierReduceScatter(const CollArgs& a, Schedule& s) {
  if (a.count == 0) return Status::ok();
  const size_t es = a.elemSize, n = a.count, blk = n * es;
  Emitter e(a, s);
  const Topo t = topoOf(a);
  const int L = t.L(), H = t.H(), r = a.rank;
  if (a.nranks == 1) {
    e.add(copy(in(0, blk), out(0, blk)));
    return Status::ok();
  }
  if (t.rail) {
    // Intra: rank i accumulates its rail's H blocks; the last step lands them compactly (block
    // of host h at h*n) in `set`, or straight in Output on one host. Before that, partial sums
    // alternate between two slots of H blocks.
    const size_t setElems = H * n, set = L > 2 ? 2 * setElems : 0, interSlots = L > 1 ? set + setElems : 0;
    std::vector<std::vector<int>> hostOwners(L);
    for (int i = 0; i < L; ++i) hostOwners[i] = t.railOf(i);
    SpanOf intraAcc = [=](Range x, size_t rel, int st, bool final) -> Span {
      if (final && H == 1) return out(rel * es, x.len * es);
      size_t base = final ? set : (st % 2) * setElems;
      return scratch((base + rel) * es, x.len * es);
    };
    ringReduceScatterOn(e, {t.mine(), t.local, rankBlocks(hostOwners, n)}, inAt(es), intraAcc);
    if (H == 1) return Status::ok();
    // Inter: rail ring reduce-scatter; logical coordinates are the set's (host h's block at h*n).
    const std::vector<int> rail = t.railOf(t.local);
    SpanOf contrib = [=](Range x, size_t, int, bool) -> Span {
      if (L > 1) return scratch((set + x.begin) * es, x.len * es);
      const size_t h = x.begin / n;  // one rank per host: the operand is still in Input
      return in((rail[h] * n + x.begin - h * n) * es, x.len * es);
    };
    SpanOf interAcc = [=](Range x, size_t rel, int st, bool final) -> Span {
      if (final) return out(rel * es, x.len * es);
      return scratch((interSlots + (st % 2) * n + rel) * es, x.len * es);
    };
    ringReduceScatterOn(e, {rail, t.host, balancedBlocks({0, setElems}, H)}, contrib, interAcc);
    return Status::ok();
  }
  // Leader form: the host's sum of all n blocks in the leader's scratch (or its Input when it is
  // alone), the leaders reduce-scatter whole hosts, and the leader hands each local its block.
  const Range all{0, a.nranks * n};
  const bool alone = L == 1;
  chainReduceOn(e, t.mine(), t.local, {all}, inAt(es), scratchAt(es));
  if (t.local != 0) {
    for (size_t c = 0, nc = numChunks(n, e.chunkElems()); c < nc; ++c) {
      Range x = chunkOf({0, n}, e.chunkElems(), c);
      e.add(recv(t.mine()[0], out(x.begin * es, x.len * es)));
    }
    return Status::ok();
  }
  const SpanOf host = alone ? inAt(es) : scratchAt(es);
  ringReduceScatterOn(e, {t.leaders(), t.host, rankBlocks(t.hosts, n)}, host, scratchAt(es));
  const SpanOf result = H > 1 ? scratchAt(es) : host;
  for (size_t c = 0, nc = numChunks(n, e.chunkElems()); c < nc; ++c) {
    Range x = chunkOf({0, n}, e.chunkElems(), c);
    for (int g : t.mine()) {
      const Span from = result(shifted(x, g * n), 0, 0, true);
      e.add(g == r ? copy(from, out(x.begin * es, x.len * es)) : send(g, from));
    }
  }
  return Status::ok();
}

Status hierBroadcast(const CollArgs& a, Schedule& s) {
  if (a.count == 0) return Status::ok();
  const size_t es = a.elemSize, n = a.count;
  Emitter e(a, s);
  const Topo t = topoOf(a);
  const bool root = a.rank == a.root;
  if (root) e.add(copy(in(0, n * es), out(0, n * es)));
  int rootHost = 0;
  for (int h = 0; h < t.H(); ++h)
    for (int g : t.hosts[h])
      if (g == a.root) rootHost = h;
  // Heads: the root, then the leader of each following host; a host's chain starts at its head.
  std::vector<int> heads;
  for (int k = 0; k < t.H(); ++k) {
    const int h = (rootHost + k) % t.H();
    heads.push_back(h == rootHost ? a.root : t.hosts[h][0]);
  }
  const int head = heads[(t.host - rootHost + t.H()) % t.H()];
  std::vector<int> chain = {head};
  for (int g : t.mine())
    if (g != head) chain.push_back(g);
  auto pos = [&](const std::vector<int>& v) {
    for (size_t i = 0; i < v.size(); ++i)
      if (v[i] == a.rank) return static_cast<int>(i);
    return -1;
  };
  const std::vector<Range> all{{0, n}};
  const SpanOf src = root ? inAt(es) : outAt(es);
  chainBroadcastOn(e, heads, pos(heads), all, src, outAt(es));
  chainBroadcastOn(e, chain, pos(chain), all, src, outAt(es));
  return Status::ok();
}

}  // namespace loom::algo::detail

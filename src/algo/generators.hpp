// Internal to src/algo: the per-family generators behind makeSchedule() and the small pieces
// of arithmetic they share (balanced partitions, chunking). Arguments reach these functions
// already checked by makeSchedule (rank/root in range, vector sizes, no overflow).
#pragma once

#include <algorithm>
#include <cstddef>

#include "algo/collective.hpp"
#include "core/status.hpp"
#include "sched/schedule.hpp"

namespace loom::algo::detail {

// Element range [begin, begin+len) of piece i when `count` elements are split into `parts`
// nearly equal pieces (the first count % parts pieces get one more element).
struct Range {
  size_t begin = 0;
  size_t len = 0;
};
inline Range balanced(size_t count, size_t parts, size_t i) {
  size_t base = count / parts, extra = count % parts;
  return {i * base + std::min(i, extra), base + (i < extra ? 1 : 0)};
}

// Sub-range c of a range cut into chunks of `chunkElems` (empty once past its end).
inline Range chunkOf(Range r, size_t chunkElems, size_t c) {
  size_t b = c * chunkElems;
  if (b >= r.len) return {r.begin + r.len, 0};
  return {r.begin + b, std::min(chunkElems, r.len - b)};
}
inline size_t numChunks(size_t len, size_t chunkElems) { return (len + chunkElems - 1) / chunkElems; }
inline size_t chunkElemsOf(const CollArgs& a) {
  return std::max<size_t>(1, a.chunkBytes / a.elemSize);
}
inline int mod(int x, int n) { return ((x % n) + n) % n; }

// Each returns the schedule of args.rank (algorithm name filled in by the caller).
Status ringAllReduce(const CollArgs& a, sched::Schedule& s);
Status ringAllGather(const CollArgs& a, sched::Schedule& s);
Status ringReduceScatter(const CollArgs& a, sched::Schedule& s);
Status chainBroadcast(const CollArgs& a, sched::Schedule& s);
Status chainReduce(const CollArgs& a, sched::Schedule& s);

Status rhdAllReduce(const CollArgs& a, sched::Schedule& s);
Status rhdReduceScatter(const CollArgs& a, sched::Schedule& s);
Status rhdAllGather(const CollArgs& a, sched::Schedule& s);

Status treeBroadcast(const CollArgs& a, sched::Schedule& s);
Status treeReduce(const CollArgs& a, sched::Schedule& s);
Status treeGather(const CollArgs& a, sched::Schedule& s);
Status treeScatter(const CollArgs& a, sched::Schedule& s);
Status treeAllReduce(const CollArgs& a, sched::Schedule& s);

Status directAllReduce(const CollArgs& a, sched::Schedule& s);  // one-shot, for small messages
Status directAllToAll(const CollArgs& a, sched::Schedule& s);  // alltoall and alltoallv
Status directAllGather(const CollArgs& a, sched::Schedule& s);  // pairwise, single copy over shm
Status directGather(const CollArgs& a, sched::Schedule& s);
Status directScatter(const CollArgs& a, sched::Schedule& s);
Status directBroadcast(const CollArgs& a, sched::Schedule& s);  // flat, for small messages
Status directSendRecv(const CollArgs& a, sched::Schedule& s);

Status disseminationBarrier(const CollArgs& a, sched::Schedule& s);

// hier.cpp (building blocks in hier_parts.hpp)
Status hierAllReduce(const CollArgs& a, sched::Schedule& s);
Status hierAllGather(const CollArgs& a, sched::Schedule& s);
Status hierReduceScatter(const CollArgs& a, sched::Schedule& s);
Status hierBroadcast(const CollArgs& a, sched::Schedule& s);

}  // namespace loom::algo::detail

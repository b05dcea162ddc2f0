// The algorithm catalogue: pure generators of per-rank schedules.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "algo/collective.hpp"
#include "core/status.hpp"
#include "sched/schedule.hpp"

namespace loom::algo {

enum class Algo : uint8_t {
  Auto,     // choose by size (select.hpp)
  Ring,     // pipelined ring (allreduce, allgather, reducescatter, broadcast as a chain, reduce)
  Rhd,      // recursive halving-doubling (allreduce, reducescatter, allgather)
  Tree,     // binomial tree (allreduce = reduce + bcast, broadcast, reduce, gather, scatter)
  Direct,   // everyone talks to everyone / to the root (alltoall pairwise, gather, scatter, broadcast, sendrecv)
  Dissemination,  // barrier
  Hier,     // hierarchical over CollArgs::hostOf (allreduce, allgather, reducescatter, broadcast)
  Board,    // one-shot on the shared-memory board, without a schedule (see boardImplements)
};

std::string_view algoName(Algo a);            // "ring", "rhd", "tree", "direct", ...
bool parseAlgo(std::string_view name, Algo* out);

// The algorithms that implement `coll` (the first is the default for large sizes).
std::span<const Algo> algorithmsFor(Coll coll);  // static storage: no allocation per call

// The board (src/core/board_run.cpp): every rank posts its input once on its shared-memory board and
// reads what it needs of the others'. It runs without a schedule, so it is not in algorithmsFor();
// the cost model weighs it where every rank is on one host and boardPostBytes fits an entry.
bool boardImplements(Coll coll);  // allreduce, reduce, broadcast, allgather, reducescatter, alltoall
// Bytes a rank posts for `count` elements (per block) of `elemSize` bytes.
inline size_t boardPostBytes(Coll coll, size_t count, size_t elemSize, int nranks) {
  const size_t b = count * elemSize;
  return coll == Coll::ReduceScatter || coll == Coll::AllToAll ? b * static_cast<size_t>(nranks) : b;
}
// What `rank` does in a board call: whether it posts its input, and how many entries it reads, its
// own included (a broadcast's root reads none, the others the root's; a reduce's non-roots none).
struct BoardRole {
  bool posts;
  int reads;
};
inline BoardRole boardRole(Coll coll, int rank, int root, int nranks) {
  if (coll == Coll::Broadcast) return {rank == root, rank == root ? 0 : 1};
  return {true, coll != Coll::Reduce || rank == root ? nranks : 0};
}

// `a` runs `coll`: in algorithmsFor(coll), or the board where boardImplements(coll).
bool implements(Algo a, Coll coll);

// Builds the schedule of args.rank. `algo` must not be Auto and must be in algorithmsFor().
Result<sched::Schedule> makeSchedule(Algo algo, const CollArgs& args);

}  // namespace loom::algo

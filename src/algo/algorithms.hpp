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
};

std::string_view algoName(Algo a);            // "ring", "rhd", "tree", "direct", ...
bool parseAlgo(std::string_view name, Algo* out);

// The algorithms that implement `coll` (the first is the default for large sizes).
std::span<const Algo> algorithmsFor(Coll coll);  // static storage: no allocation per call

// Builds the schedule of args.rank. `algo` must not be Auto and must be in algorithmsFor().
Result<sched::Schedule> makeSchedule(Algo algo, const CollArgs& args);

}  // namespace loom::algo

// Which algorithm runs a call: LOOM_ALGO when it says, else the cost model (src/cost) or,
// without one, a built-in size rule.
//
// LOOM_ALGO syntax: entries separated by ';'. An entry is
//   ALGO                          every collective that ALGO implements (others stay automatic)
//   COLL=ALGO                     that collective at every size
//   COLL:RANGE=ALGO[,RANGE=ALGO]  that collective for byte ranges; RANGE is LO-HI, LO- or -HI,
//                                 half-open [LO, HI) in bytes per rank with K/M/G suffixes
// e.g. "ring", "allreduce:0-64K=tree,64K-=ring;broadcast=tree". Per-collective entries win over
// a bare ALGO; sizes no range covers fall back to the bare ALGO, then to chooseAlgo().
#pragma once

#include <array>
#include <cstddef>
#include <string_view>
#include <vector>

#include "algo/algorithms.hpp"
#include "core/status.hpp"

namespace loom::algo {

inline constexpr size_t kNumColls = static_cast<size_t>(Coll::SendRecv) + 1;

// The built-in size rule (bytesPerRank = count * elemSize): tree up to 64 KiB for
// allreduce/broadcast/reduce/gather/scatter, rhd up to 1 MiB for allreduce (and for
// allgather/reducescatter up to 256 KiB on power-of-two rank counts), ring above; direct for
// alltoall(v) and sendrecv; dissemination for barrier.
Algo chooseAlgo(Coll coll, size_t bytesPerRank, int nranks);

struct AlgoRule {
  size_t lo = 0;
  size_t hi = SIZE_MAX;  // exclusive; SIZE_MAX means open-ended
  Algo algo = Algo::Auto;
};

struct AlgoOverride {
  Algo all = Algo::Auto;  // the bare ALGO entry, if any
  std::array<std::vector<AlgoRule>, kNumColls> rules;
  bool empty() const;
};

// Parses a LOOM_ALGO value ("" gives an empty override). Errors name the offending entry.
Result<AlgoOverride> parseAlgoOverride(std::string_view text);

// What LOOM_ALGO forces for one call: Auto when it leaves the choice open (to the cost model).
Algo forcedAlgo(const AlgoOverride& ov, Coll coll, size_t bytesPerRank);

// forcedAlgo, else the built-in size rule (for callers without a cost model); never Auto, one of
// algorithmsFor(coll) unless the override forces the board.
Algo resolveAlgo(const AlgoOverride& ov, Coll coll, size_t bytesPerRank, int nranks);

bool parseColl(std::string_view name, Coll* out);

}  // namespace loom::algo

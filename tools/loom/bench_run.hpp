// The sweep one rank of `loom bench` runs: every collective x type x op x root x size, each
// timed out of place and in place, then checked; rank 0 prints.
#pragma once

#include <loom/loom.h>

#include <vector>

#include "bench_options.hpp"
#include "bench_race.hpp"

namespace loom::bench {

// Returns the exit code (the same on every rank when all goes well).
// `contenders` (--algos) race each row; empty: the nccl-tests sweep on `comm`.
int runRank(loomComm_t comm, const Options& o, const std::vector<Contender>& contenders = {});

}  // namespace loom::bench

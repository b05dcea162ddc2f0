// The sweep one rank of `loom bench` runs: every collective x type x op x root x size, each
// timed out of place and in place, then checked; rank 0 prints.
#pragma once

#include <loom/loom.h>

#include "bench_options.hpp"

namespace loom::bench {

// Returns the exit code (the same on every rank when all goes well).
int runRank(loomComm_t comm, const Options& o);

}  // namespace loom::bench

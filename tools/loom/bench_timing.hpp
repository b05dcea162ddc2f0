// Timing of one row as nccl-tests does it: warm-up, align the ranks, time the loop of -n
// iterations around the whole loop, divide; then combine the ranks' times per -a.
#pragma once

#include <loom/loom.h>

#include "bench_coll.hpp"
#include "bench_options.hpp"

namespace loom::bench {

struct Timing {
  loomResult_t result = loomSuccess;  // the first failing call's code
  double seconds = 0;                 // per iteration, on this rank
};

// With blocking == false every iteration is issued as a request and all are waited for at the
// end (sendrecv groups always block).
Timing timeIterations(CollRun& run, loomComm_t comm, bool inPlace, int warmup, int iters, bool blocking);

// This rank's time combined with the others' as -a asks; every rank gets the same value.
loomResult_t aggregateTime(loomComm_t comm, int rank, int nranks, Agg agg, double mine, double* out);

// Sum of a count over the ranks.
loomResult_t sumOverRanks(loomComm_t comm, uint64_t mine, uint64_t* out);

}  // namespace loom::bench

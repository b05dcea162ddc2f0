// Timing and checking one half (out of place or in place) of a `loom bench` row, shared by the
// nccl-tests sweep and the --algos race.
#pragma once

#include <loom/loom.h>

#include <string>

#include "bench_coll.hpp"
#include "bench_options.hpp"
#include "bench_output.hpp"

namespace loom::bench {

struct Ctx {
  loomComm_t comm;
  const Options& o;
  int rank, nranks;
  bool corrupt;  // LOOM_BENCH_CORRUPT test hook
};

// A failing call is fatal: the other ranks would wait for it until LOOM_TIMEOUT, so the process
// exits at once (loomrun then stops the others).
[[noreturn]] void fatal(const Ctx& c, const std::string& what, loomResult_t r);

// Times `run` on c.comm per -n/-w/-z/-a, then (with `check`) runs it once more with known inputs
// and counts wrong elements over all ranks.
Half measure(const Ctx& c, CollRun& run, bool inPlace, bool check, const std::string& what);

// --explain: what the library predicts for a loop of this call (sendrecv has no estimate).
void explain(loomComm_t comm, Row& row);

}  // namespace loom::bench

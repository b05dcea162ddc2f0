// Timing and checking one half of a `loom bench` row (bench_measure.hpp).
#include "bench_measure.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>

#include "bench_timing.hpp"

namespace loom::bench {

void fatal(const Ctx& c, const std::string& what, loomResult_t r) {
  fmt::print(stderr, "loom bench: rank {}: {} failed: {}: {}\n", c.rank, what, loomGetErrorString(r),
             loomGetLastError(c.comm));
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(3);
}

Half measure(const Ctx& c, CollRun& run, bool inPlace, bool check, const std::string& what) {
  Half h;
  Timing t = timeIterations(run, c.comm, inPlace, c.o.warmup, c.o.iters, c.o.blocking);
  if (t.result != loomSuccess) fatal(c, what, t.result);
  double seconds = 0;
  if (loomResult_t r = aggregateTime(c.comm, c.rank, c.nranks, c.o.agg, t.seconds, &seconds); r != loomSuccess)
    fatal(c, "aggregating times", r);
  h.timeUs = seconds * 1e6;
  if (check) {
    run.fillInputs(inPlace);
    if (loomResult_t r = run.issue(inPlace, nullptr); r != loomSuccess) fatal(c, what + " (check)", r);
    if (c.corrupt) run.corruptOne(inPlace);
    if (loomResult_t r = sumOverRanks(c.comm, run.countWrong(inPlace), &h.wrong); r != loomSuccess)
      fatal(c, "summing wrong counts", r);
  }
  return h;
}

void explain(loomComm_t comm, Row& row) {
  loomCollective_t which;
  switch (row.coll) {
    case Coll::AllReduce: which = loomCollAllReduce; break;
    case Coll::AllGather: which = loomCollAllGather; break;
    case Coll::ReduceScatter: which = loomCollReduceScatter; break;
    case Coll::Broadcast: which = loomCollBroadcast; break;
    case Coll::Reduce: which = loomCollReduce; break;
    case Coll::AllToAll: which = loomCollAllToAll; break;
    case Coll::Gather: which = loomCollGather; break;
    case Coll::Scatter: which = loomCollScatter; break;
    default: return;
  }
  const char* algo = nullptr;
  double us = 0;
  // The bench times a loop of calls: compare with the model's time per call in a loop.
  if (loomEstimateRepeated(comm, which, row.layout.paramCount, row.type, &algo, &us) != loomSuccess) return;
  row.predictedUs = us;
  row.predictedAlgo = algo;
}

}  // namespace loom::bench

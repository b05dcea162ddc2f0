// Timing loop and cross-rank aggregation for `loom bench`.
#include "bench_timing.hpp"

#include <chrono>
#include <vector>

namespace loom::bench {

namespace {

// Runs iters operations; nonblocking ones are all in flight before the first wait, so the
// library sees the queue that a training step would give it.
loomResult_t runIterations(CollRun& run, bool inPlace, int iters, bool blocking) {
  if (blocking) {
    for (int i = 0; i < iters; ++i)
      if (loomResult_t r = run.issue(inPlace, nullptr); r != loomSuccess) return r;
    return loomSuccess;
  }
  std::vector<loomRequest_t> reqs(static_cast<size_t>(iters), nullptr);
  loomResult_t first = loomSuccess;
  for (int i = 0; i < iters && first == loomSuccess; ++i) first = run.issue(inPlace, &reqs[i]);
  for (loomRequest_t req : reqs) {
    if (!req) continue;  // not issued, or completed at once (sendrecv, zero count)
    loomResult_t r = loomWait(req);
    if (first == loomSuccess) first = r;
  }
  return first;
}

}  // namespace

Timing timeIterations(CollRun& run, loomComm_t comm, bool inPlace, int warmup, int iters, bool blocking) {
  Timing t;
  if (warmup > 0 && (t.result = runIterations(run, inPlace, warmup, blocking)) != loomSuccess) return t;
  if ((t.result = loomBarrier(comm, nullptr)) != loomSuccess) return t;
  auto start = std::chrono::steady_clock::now();
  t.result = runIterations(run, inPlace, iters, blocking);
  t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / iters;
  return t;
}

loomResult_t aggregateTime(loomComm_t comm, int rank, int nranks, Agg agg, double mine, double* out) {
  double v = agg == Agg::Rank0 && rank != 0 ? 0.0 : mine;
  loomRedOp_t op = agg == Agg::Min ? loomMin : agg == Agg::Max ? loomMax : loomSum;
  loomResult_t r = loomAllReduce(&v, &v, 1, loomFloat64, op, comm, nullptr);
  *out = agg == Agg::Avg ? v / nranks : v;
  return r;
}

loomResult_t sumOverRanks(loomComm_t comm, uint64_t mine, uint64_t* out) {
  *out = mine;
  return loomAllReduce(out, out, 1, loomUint64, loomSum, comm, nullptr);
}

}  // namespace loom::bench

// Assembles a plan from the memory, time and communication models.
#include "planner.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace loom::plan {

namespace {

bool fitsWith(PlanInput in, int microBatch, int seqLen) {
  in.microBatch = microBatch;
  in.seqLen = seqLen;
  return estimateMemory(in).fits;
}

// Largest value in [1, hi] for which pred holds, assuming monotonicity; 0 when pred(1) fails.
template <typename Pred>
int largest(int hi, Pred pred) {
  if (!pred(1)) return 0;
  int lo = 1, probe = 2;
  while (probe <= hi && pred(probe)) lo = probe, probe *= 2;
  int top = std::min(probe, hi + 1);  // pred(top) false or top beyond range
  while (top - lo > 1) {
    int mid = lo + (top - lo) / 2;
    (pred(mid) ? lo : top) = mid;
  }
  return lo;
}

}  // namespace

Result<PlanResult> makePlan(const PlanInput& in, const PlanOptions& opts) {
  LOOM_TRY(validate(in));
  PlanResult r;
  r.input = in;
  r.params = countParams(in.model);
  r.trainableParams = in.method == Method::kFull
                          ? r.params.total
                          : in.model.layers * loraParamsPerLayer(in.model, in.lora.targets, in.lora.rank);
  r.memory = estimateMemory(in);
  if (opts.searchLimits) {
    r.maxMicroBatch = largest(1 << 16, [&](int b) { return fitsWith(in, b, in.seqLen); });
    const int maxPos = in.model.maxPositions > 0 ? int(std::min<int64_t>(in.model.maxPositions, 1 << 24)) : 1 << 20;
    r.maxSeqLen = largest(maxPos, [&](int s) { return fitsWith(in, in.microBatch, s); });
  }
  r.flops = trainingFlops(in);
  auto comm = makeCommModel();
  r.time = estimateStepTime(in, r.memory.pagedSpillBytes, *comm);
  r.tokensPerStep = double(in.seqLen) * in.microBatch * in.gradAccum * in.dp();
  r.tokensPerSecond = r.tokensPerStep / r.time.step;
  if (in.work.steps > 0) {
    r.steps = double(in.work.steps);
  } else if (in.work.tokens > 0) {
    r.steps = std::ceil(in.work.tokens * in.work.epochs / r.tokensPerStep);
  }
  r.totalSeconds = r.steps * r.time.step;
  const int n = in.cluster.totalGpus();
  r.gpuHours = r.totalSeconds / 3600 * n;
  r.pricePerGpuHour = in.knobs.pricePerGpuHour >= 0 ? in.knobs.pricePerGpuHour : in.cluster.gpu.pricePerHour;
  r.costUsd = r.gpuHours * r.pricePerGpuHour;
  r.energyKWh = r.gpuHours * in.cluster.gpu.tdpW / 1000;

  if (!r.memory.fits)
    r.notes.push_back(fmt::format("does not fit: needs {:.1f} GiB per GPU, the {} has {:.0f} GiB",
                                  r.memory.total / kGiB, in.cluster.gpu.name, in.cluster.gpu.memoryGiB));
  if (r.memory.pagedSpillBytes > 0)
    r.notes.push_back(fmt::format("paged optimizer spills {:.1f} GiB to host memory; each step pages it over PCIe",
                                  r.memory.pagedSpillBytes / kGiB));
  if (in.work.steps <= 0 && in.work.tokens <= 0)
    r.notes.push_back("no --tokens or --steps given: time to finish and cost are 0");
  if (in.cluster.gpu.vendor != "NVIDIA" && in.method == Method::kQlora)
    r.notes.push_back("QLoRA on non-NVIDIA GPUs depends on the bitsandbytes port for the platform");
  return r;
}

}  // namespace loom::plan

// One plan: memory, limits, step time, throughput, duration and cost for a PlanInput.
#pragma once

#include <string>
#include <vector>

#include "memory_model.hpp"
#include "time_model.hpp"

namespace loom::plan {

struct PlanResult {
  PlanInput input;
  ParamCounts params;
  double trainableParams = 0;  // whole model
  MemoryBreakdown memory;
  int maxMicroBatch = 0;       // at the requested sequence length; 0: not even 1 fits
  int maxSeqLen = 0;           // at the requested micro-batch
  Flops flops;
  StepTime time;
  double tokensPerStep = 0;
  double tokensPerSecond = 0;
  double steps = 0;
  double totalSeconds = 0;
  double gpuHours = 0;
  double pricePerGpuHour = 0;
  double costUsd = 0;
  double energyKWh = 0;        // at TDP
  std::vector<std::string> notes;
};

struct PlanOptions {
  bool searchLimits = true;  // largest micro-batch and sequence length (skipped by recommend)
};

Result<PlanResult> makePlan(const PlanInput& in, const PlanOptions& opts = {});

}  // namespace loom::plan

// Step time: compute from FLOPs at a model-FLOPs utilisation, communication for each kind of parallelism,
// pipeline bubble, host offload traffic, and how much of the communication is hidden behind compute.
#pragma once

#include <string>

#include "comm_model.hpp"
#include "plan_types.hpp"

namespace loom::plan {

struct Flops {
  double forwardPerToken = 0;   // 2 x active matmul params + attention scores
  double modelPerToken = 0;     // training FLOPs per token without recompute (the MFU numerator)
  double executedPerToken = 0;  // including recompute
};
Flops trainingFlops(const PlanInput& in);

struct StepTime {
  double peakTflops = 0;       // per GPU, for the precision
  double mfu = 0;
  double compute = 0;          // seconds per step per GPU, without the bubble
  double bubble = 0;           // pipeline fill and drain
  double dpComm = 0, dpExposed = 0;
  double tpComm = 0;
  double ppComm = 0;
  double offload = 0;          // host transfers and CPU optimizer
  double pagedSpill = 0;       // paged optimizer states moved over PCIe
  double step = 0;
  double networkShare = 0;     // exposed communication / step
  std::string commModel;
};

// `pagedSpillBytes` comes from the memory model (per GPU).
StepTime estimateStepTime(const PlanInput& in, double pagedSpillBytes, const CommModel& comm);

}  // namespace loom::plan

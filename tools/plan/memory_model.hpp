// Memory per GPU at the training step's peak, itemised. Formulas and sources: docs/planner.md.
#pragma once

#include <string>
#include <vector>

#include "model_spec.hpp"
#include "plan_types.hpp"

namespace loom::plan {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

struct MemoryItem {
  std::string key;     // stable JSON key
  std::string label;   // human label
  double bytes = 0;
  std::string detail;  // the formula with numbers
};

struct MemoryBreakdown {
  std::vector<MemoryItem> items;  // everything resident on the GPU at the peak; total is their sum
  double total = 0;
  double capacity = 0;
  bool fits = false;
  std::string peakPhase;          // when the peak occurs
  double pagedBytes = 0;          // paged optimizer states (unified memory: may spill to host)
  double pagedSpillBytes = 0;     // the part that does not fit next to the rest
  double hostBytesPerNode = 0;    // CPU memory needed for offloaded state
  double bytes(const std::string& key) const;
};

// Per-GPU parameter shares after tensor and pipeline splitting (first pipeline stage, the largest).
struct ParamShares {
  double paramsGpu = 0;        // all weights held by one tensor/pipeline shard
  double trainableGpu = 0;     // trainable weights in that shard
  double linearGpu = 0;        // block matrices in that shard (QLoRA quantises these)
  double layerParams = 0;      // one block's weights on this GPU
  int layersPerStage = 0;
};
ParamShares paramShares(const PlanInput& in, const ParamCounts& c);

// Bytes per trainable parameter of weights, gradients and optimizer states (with fp32 master copy), unsharded.
struct StateBytes {
  double weight = 0, grad = 0, master = 0, optimizer = 0;
  double total() const { return weight + grad + master + optimizer; }
};
StateBytes trainableStateBytes(const PlanInput& in);

// Activation bytes saved by one transformer layer for one micro-batch on one GPU (divided by tp under
// sequence parallelism) for the given recompute choice, excluding the transient recompute buffer.
double activationBytesPerLayer(const PlanInput& in, Recompute r);
// Logits and loss buffers on the last stage for one micro-batch.
double logitsBytes(const PlanInput& in);

MemoryBreakdown estimateMemory(const PlanInput& in);

}  // namespace loom::plan

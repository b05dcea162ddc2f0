// `loom plan recommend`: every catalog configuration (GPU type x count x sharding x recompute) for a
// model, method and dataset; the ones that fit ranked by cost and by time, and why the others fail.
#pragma once

#include <string>
#include <vector>

#include "planner.hpp"

namespace loom::plan {

struct RecommendOptions {
  std::vector<std::string> gpus;  // empty: the whole catalog
  int maxGpus = 64;
  bool keepNetwork = false;       // use base.cluster.network for every GPU instead of each GPU's default
};

struct Rejection {
  std::string gpu;
  int gpus = 0;
  Sharding sharding = Sharding::kNone;
  Offload offload = Offload::kNone;
  Recompute recompute = Recompute::kNone;
  double neededGiB = 0;  // 0 when rejected for another reason
  std::string reason;
};

struct GpuVerdict {
  std::string gpu;
  int fitting = 0;
  std::string summary;   // why nothing fits, or the cheapest fitting option
};

struct Recommendation {
  PlanInput base;
  std::vector<PlanResult> fitting;
  std::vector<size_t> byCost;  // indices into fitting
  std::vector<size_t> byTime;
  std::vector<Rejection> rejected;
  std::vector<GpuVerdict> verdicts;
  int evaluated = 0;
  double seconds = 0;          // time taken by the search
};

// The ranking key for cost: total cost when the work is known, else cost per million tokens.
double costKey(const PlanResult& r);
std::string optionLabel(const PlanInput& in);

Result<Recommendation> recommend(const PlanInput& base, const GpuCatalog& catalog, const RecommendOptions& opts);

}  // namespace loom::plan

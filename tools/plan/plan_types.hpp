// The inputs of one fine-tuning plan: method, precision, optimizer, sharding, activation handling,
// parallel layout, cluster and amount of work. Plain values so the planner is a pure function.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.hpp"
#include "gpu_catalog.hpp"
#include "model_spec.hpp"

namespace loom::plan {

enum class Method { kFull, kLora, kQlora };
enum class Precision { kFp32, kMixed, kBf16, kFp8 };  // kMixed: fp16/bf16 compute, fp32 master weights
enum class Optimizer { kAdamW, kAdamW8bit, kPagedAdamW, kPagedAdamW8bit, kSgd, kSgdMomentum, kAdafactor };
enum class Sharding { kNone, kZero1, kZero2, kZero3 };
enum class Offload { kNone, kOptimizer, kOptimizerAndParams };
enum class Recompute { kNone, kSelective, kFull };

// LoRA target modules as a bit set.
enum LoraTarget : unsigned {
  kTargetQ = 1, kTargetK = 2, kTargetV = 4, kTargetO = 8, kTargetGate = 16, kTargetUp = 32, kTargetDown = 64,
  kTargetAllLinear = 127,
};

struct LoraConfig {
  int rank = 16;
  double alpha = 32;
  unsigned targets = kTargetQ | kTargetK | kTargetV | kTargetO;
};

// What the user can tune about the estimate itself; every default is documented in docs/planner.md.
struct Assumptions {
  double mfu = -1;                 // <0: the GPU catalog's default for its class
  double contextGiB = 0.75;        // CUDA context, kernels and framework state per GPU
  double fragmentation = 0.05;     // allocator fragmentation margin, fraction of allocated bytes
  double overlap = 0.5;            // fraction of data-parallel communication hidden behind backward compute
  int lossChunks = 1;              // >1: chunked cross-entropy (logits upcast chunk by chunk)
  bool dropout = false;            // dropout masks stored (most LLM fine-tuning recipes use dropout 0)
  double pricePerGpuHour = -1;     // <0: catalog price
  double cpuAdamParamsPerSec = 1e9;  // CPU optimizer throughput per GPU process when offloading
};

struct Cluster {
  GpuSpec gpu;
  int gpusPerNode = 1;
  int nodes = 1;
  NetworkSpec network;
  int nicsPerNode = 1;
  int totalGpus() const { return gpusPerNode * nodes; }
};

struct Work {
  double tokens = 0;   // dataset tokens per epoch
  double epochs = 1;
  int64_t steps = 0;   // >0 overrides tokens x epochs
};

struct PlanInput {
  ModelSpec model;
  Method method = Method::kFull;
  LoraConfig lora;
  Precision precision = Precision::kMixed;
  Optimizer optimizer = Optimizer::kAdamW;
  Sharding sharding = Sharding::kNone;
  Offload offload = Offload::kNone;
  Recompute recompute = Recompute::kNone;
  bool flashAttention = true;
  int microBatch = 1;
  int seqLen = 2048;
  int gradAccum = 1;
  int tp = 1;  // tensor parallel (with sequence parallelism)
  int pp = 1;  // pipeline parallel (1F1B)
  Cluster cluster;
  Work work;
  Assumptions knobs;
  int dp() const { return cluster.totalGpus() / (tp * pp); }
};

// Parsing and naming, shared by the CLI and the JSON output. Parse errors name the bad value and the choices.
Result<Method> parseMethod(std::string_view s);
Result<Precision> parsePrecision(std::string_view s);
Result<Optimizer> parseOptimizer(std::string_view s);
Result<Sharding> parseSharding(std::string_view s);
Result<Offload> parseOffload(std::string_view s);
Result<Recompute> parseRecompute(std::string_view s);
Result<unsigned> parseLoraTargets(std::string_view s);
// "7B", "500M", "1.5e9", "2T", "10k" -> value.
Result<double> parseCount(std::string_view s);

std::string toString(Method m);
std::string toString(Precision p);
std::string toString(Optimizer o);
std::string toString(Sharding s);
std::string toString(Offload o);
std::string toString(Recompute r);
std::string loraTargetsToString(unsigned targets);

// Checks ranges and combinations (positive sizes, divisibility, method and GPU support); the error names
// the offending input.
Status validate(const PlanInput& in);

}  // namespace loom::plan

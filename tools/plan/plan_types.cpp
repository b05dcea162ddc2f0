// Names of the plan's choices, their parsing, and input validation.
#include "plan_types.hpp"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <utility>

namespace loom::plan {

namespace {

template <typename E, size_t N>
Result<E> lookup(std::string_view s, const std::array<std::pair<const char*, E>, N>& table, const char* what) {
  std::string key = normaliseName(std::string(s));
  for (const auto& [name, value] : table)
    if (normaliseName(name) == key) return value;
  std::string choices;
  for (const auto& [name, value] : table) choices += std::string(choices.empty() ? "" : ", ") + name;
  return invalidArgument(fmt::format("unknown {} '{}'; choose one of: {}", what, s, choices));
}

const std::array<std::pair<const char*, Method>, 4> kMethods{{
    {"full", Method::kFull}, {"lora", Method::kLora}, {"qlora", Method::kQlora}, {"full-ft", Method::kFull}}};
const std::array<std::pair<const char*, Precision>, 8> kPrecisions{{{"mixed", Precision::kMixed},
                                                                   {"bf16-mixed", Precision::kMixed},
                                                                   {"fp16-mixed", Precision::kMixed},
                                                                   {"amp", Precision::kMixed},
                                                                   {"bf16", Precision::kBf16},
                                                                   {"pure-bf16", Precision::kBf16},
                                                                   {"fp32", Precision::kFp32},
                                                                   {"fp8", Precision::kFp8}}};
const std::array<std::pair<const char*, Optimizer>, 8> kOptimizers{{{"adamw", Optimizer::kAdamW},
                                                                   {"adamw-8bit", Optimizer::kAdamW8bit},
                                                                   {"paged-adamw", Optimizer::kPagedAdamW},
                                                                   {"paged-adamw-8bit", Optimizer::kPagedAdamW8bit},
                                                                   {"sgd", Optimizer::kSgd},
                                                                   {"sgd-momentum", Optimizer::kSgdMomentum},
                                                                   {"adafactor", Optimizer::kAdafactor},
                                                                   {"adam", Optimizer::kAdamW}}};
const std::array<std::pair<const char*, Sharding>, 6> kShardings{{{"none", Sharding::kNone},
                                                                 {"zero1", Sharding::kZero1},
                                                                 {"zero2", Sharding::kZero2},
                                                                 {"zero3", Sharding::kZero3},
                                                                 {"fsdp", Sharding::kZero3},
                                                                 {"ddp", Sharding::kNone}}};
const std::array<std::pair<const char*, Offload>, 4> kOffloads{{{"none", Offload::kNone},
                                                               {"optimizer", Offload::kOptimizer},
                                                               {"optimizer+params", Offload::kOptimizerAndParams},
                                                               {"params", Offload::kOptimizerAndParams}}};
const std::array<std::pair<const char*, Recompute>, 4> kRecomputes{{{"none", Recompute::kNone},
                                                                   {"selective", Recompute::kSelective},
                                                                   {"full", Recompute::kFull},
                                                                   {"checkpointing", Recompute::kFull}}};

}  // namespace

Result<Method> parseMethod(std::string_view s) { return lookup(s, kMethods, "method"); }
Result<Precision> parsePrecision(std::string_view s) { return lookup(s, kPrecisions, "precision"); }
Result<Optimizer> parseOptimizer(std::string_view s) { return lookup(s, kOptimizers, "optimizer"); }
Result<Sharding> parseSharding(std::string_view s) { return lookup(s, kShardings, "sharding"); }
Result<Offload> parseOffload(std::string_view s) { return lookup(s, kOffloads, "offload"); }
Result<Recompute> parseRecompute(std::string_view s) { return lookup(s, kRecomputes, "recompute"); }

Result<unsigned> parseLoraTargets(std::string_view s) {
  static const std::array<std::pair<const char*, unsigned>, 14> kNames{{{"q", kTargetQ},
                                                                        {"k", kTargetK},
                                                                        {"v", kTargetV},
                                                                        {"o", kTargetO},
                                                                        {"gate", kTargetGate},
                                                                        {"up", kTargetUp},
                                                                        {"down", kTargetDown},
                                                                        {"q_proj", kTargetQ},
                                                                        {"k_proj", kTargetK},
                                                                        {"v_proj", kTargetV},
                                                                        {"o_proj", kTargetO},
                                                                        {"all-linear", kTargetAllLinear},
                                                                        {"all", kTargetAllLinear},
                                                                        {"attention", 15u}}};
  unsigned bits = 0;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string_view::npos) end = s.size();
    std::string_view item = s.substr(start, end - start);
    if (!item.empty()) {
      bool found = false;
      for (const auto& [name, bit] : kNames)
        if (item == name) bits |= bit, found = true;
      if (!found)
        return invalidArgument(fmt::format("unknown LoRA target '{}'; use q,k,v,o,gate,up,down or all-linear", item));
    }
    start = end + 1;
  }
  if (bits == 0) return invalidArgument("--lora-targets is empty; use q,k,v,o,gate,up,down or all-linear");
  return bits;
}

Result<double> parseCount(std::string_view s) {
  if (s.empty()) return invalidArgument("empty number");
  double mult = 1;
  std::string body(s);
  char last = char(std::toupper(static_cast<unsigned char>(body.back())));
  if (last == 'K' || last == 'M' || last == 'B' || last == 'G' || last == 'T') {
    mult = last == 'K' ? 1e3 : last == 'M' ? 1e6 : (last == 'B' || last == 'G') ? 1e9 : 1e12;
    body.pop_back();
  }
  double v = 0;
  auto [ptr, ec] = std::from_chars(body.data(), body.data() + body.size(), v);
  if (ec != std::errc() || ptr != body.data() + body.size() || !std::isfinite(v))
    return invalidArgument(fmt::format("'{}' is not a number (examples: 7B, 500M, 1.5e9)", s));
  return v * mult;
}

std::string toString(Method m) {
  switch (m) {
    case Method::kFull: return "full";
    case Method::kLora: return "lora";
    case Method::kQlora: return "qlora";
  }
  return "?";
}
std::string toString(Precision p) {
  switch (p) {
    case Precision::kFp32: return "fp32";
    case Precision::kMixed: return "mixed";
    case Precision::kBf16: return "bf16";
    case Precision::kFp8: return "fp8";
  }
  return "?";
}
std::string toString(Optimizer o) {
  switch (o) {
    case Optimizer::kAdamW: return "adamw";
    case Optimizer::kAdamW8bit: return "adamw-8bit";
    case Optimizer::kPagedAdamW: return "paged-adamw";
    case Optimizer::kPagedAdamW8bit: return "paged-adamw-8bit";
    case Optimizer::kSgd: return "sgd";
    case Optimizer::kSgdMomentum: return "sgd-momentum";
    case Optimizer::kAdafactor: return "adafactor";
  }
  return "?";
}
std::string toString(Sharding s) {
  switch (s) {
    case Sharding::kNone: return "none";
    case Sharding::kZero1: return "zero1";
    case Sharding::kZero2: return "zero2";
    case Sharding::kZero3: return "zero3";
  }
  return "?";
}
std::string toString(Offload o) {
  switch (o) {
    case Offload::kNone: return "none";
    case Offload::kOptimizer: return "optimizer";
    case Offload::kOptimizerAndParams: return "optimizer+params";
  }
  return "?";
}
std::string toString(Recompute r) {
  switch (r) {
    case Recompute::kNone: return "none";
    case Recompute::kSelective: return "selective";
    case Recompute::kFull: return "full";
  }
  return "?";
}

std::string loraTargetsToString(unsigned t) {
  if ((t & kTargetAllLinear) == kTargetAllLinear) return "all-linear";
  static const char* kNames[] = {"q", "k", "v", "o", "gate", "up", "down"};
  std::string out;
  for (int i = 0; i < 7; ++i)
    if (t & (1u << i)) out += std::string(out.empty() ? "" : ",") + kNames[i];
  return out;
}

Status validate(const PlanInput& in) {
  LOOM_TRY(validateModel(in.model));
  auto positive = [](const char* what, double v) -> Status {
    if (!(v > 0)) return invalidArgument(fmt::format("{} must be positive (got {})", what, v));
    return Status::ok();
  };
  LOOM_TRY(positive("--micro-batch", in.microBatch));
  LOOM_TRY(positive("--seq-len", in.seqLen));
  LOOM_TRY(positive("--grad-accum", in.gradAccum));
  LOOM_TRY(positive("--tp", in.tp));
  LOOM_TRY(positive("--pp", in.pp));
  LOOM_TRY(positive("--gpus-per-node", in.cluster.gpusPerNode));
  LOOM_TRY(positive("--nodes", in.cluster.nodes));
  LOOM_TRY(positive("--nics-per-node", in.cluster.nicsPerNode));
  if (in.work.tokens < 0 || in.work.epochs < 0 || in.work.steps < 0)
    return invalidArgument("--tokens, --epochs and --steps must not be negative");
  const auto& k = in.knobs;
  if (k.mfu >= 0 && !(k.mfu > 0 && k.mfu <= 1)) return invalidArgument(fmt::format("--mfu must be in (0, 1] (got {})", k.mfu));
  if (k.overlap < 0 || k.overlap > 1) return invalidArgument(fmt::format("--overlap must be in [0, 1] (got {})", k.overlap));
  if (k.fragmentation < 0 || k.fragmentation > 1)
    return invalidArgument(fmt::format("--fragmentation must be in [0, 1] (got {})", k.fragmentation));
  if (k.contextGiB < 0) return invalidArgument("--context-gib must not be negative");
  if (k.lossChunks < 1) return invalidArgument("--loss-chunks must be at least 1");
  const auto& m = in.model;
  const auto& g = in.cluster.gpu;
  if (in.seqLen > 0 && m.maxPositions > 0 && in.seqLen > m.maxPositions)
    return invalidArgument(fmt::format("--seq-len {} exceeds the {} context of model '{}'", in.seqLen,
                                       m.maxPositions, m.name));
  if (in.cluster.gpusPerNode > g.maxGpusPerNode)
    return invalidArgument(fmt::format("--gpus-per-node {} exceeds the {} that a '{}' node holds", in.cluster.gpusPerNode,
                                       g.maxGpusPerNode, g.name));
  const int n = in.cluster.totalGpus();
  if (n % (in.tp * in.pp) != 0)
    return invalidArgument(fmt::format("{} GPUs is not a multiple of tensor x pipeline parallel = {}", n, in.tp * in.pp));
  if (in.tp > 1 && (m.heads % in.tp != 0 || (m.kvHeads % in.tp != 0 && in.tp % m.kvHeads != 0)))
    return invalidArgument(fmt::format("--tp {} does not divide the {} attention heads of '{}'", in.tp, m.heads, m.name));
  if (in.pp > m.layers)
    return invalidArgument(fmt::format("--pp {} exceeds the {} layers of '{}'", in.pp, m.layers, m.name));
  if (in.method != Method::kFull) {
    if (in.lora.rank <= 0) return invalidArgument(fmt::format("--lora-rank must be positive (got {})", in.lora.rank));
    if ((in.lora.targets & kTargetGate) && in.lora.targets != kTargetAllLinear && !m.gatedMlp)
      return invalidArgument(fmt::format("LoRA target 'gate' does not exist in '{}': its MLP has no gate projection",
                                         m.name));
  }
  if (in.method == Method::kQlora) {
    if (!g.bitsandbytes)
      return invalidArgument(fmt::format("method qlora needs bitsandbytes NF4 kernels, which '{}' lacks", g.name));
    if (in.precision == Precision::kFp32 || in.precision == Precision::kFp8)
      return invalidArgument(fmt::format("method qlora computes in bf16/fp16; precision '{}' is not available with it",
                                         toString(in.precision)));
  }
  const bool eightBit = in.optimizer == Optimizer::kAdamW8bit || in.optimizer == Optimizer::kPagedAdamW8bit ||
                        in.optimizer == Optimizer::kPagedAdamW;
  if (eightBit && !g.bitsandbytes)
    return invalidArgument(fmt::format("optimizer '{}' needs bitsandbytes, which '{}' lacks", toString(in.optimizer),
                                       g.name));
  if (in.precision == Precision::kFp8 && g.fp8Tflops <= 0)
    return invalidArgument(fmt::format("precision fp8 needs fp8 tensor cores, which '{}' lacks", g.name));
  if (in.sharding != Sharding::kNone && in.dp() < 2 && in.offload == Offload::kNone)
    return invalidArgument(fmt::format("sharding {} needs at least 2 data-parallel GPUs (have {})",
                                       toString(in.sharding), in.dp()));
  if (in.offload == Offload::kOptimizerAndParams && in.sharding != Sharding::kZero3)
    return invalidArgument("offloading parameters needs --sharding zero3 (ZeRO-Infinity / FSDP CPU offload)");
  if (in.offload == Offload::kOptimizer && in.sharding == Sharding::kNone)
    return invalidArgument("offloading the optimizer needs ZeRO (--sharding zero1, zero2 or zero3)");
  if ((in.tp > 1 || in.pp > 1) && in.sharding == Sharding::kZero3)
    return invalidArgument("ZeRO-3 / FSDP full shard with tensor or pipeline parallelism is not modelled; use zero1");
  return Status::ok();
}

}  // namespace loom::plan

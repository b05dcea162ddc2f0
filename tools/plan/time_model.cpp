// FLOPs and step time.
//
// FLOPs per token follow Kaplan et al. 2020 / PaLM (Chowdhery et al. 2022, appendix B): forward is
// 2 x (matmul parameters) + 4 x layers x sequence x attention width; training is 3 x forward (backward
// computes input and weight gradients). With LoRA the frozen weights get no weight gradient, so training
// is 2 x forward plus 6 x adapter parameters (Hu et al. 2021). Full recompute adds one forward; selective
// recompute (without FlashAttention) adds the attention-score forward. Compute time is FLOPs divided by
// peak x MFU. Data-parallel communication overlaps with backward by the `overlap` fraction; tensor-parallel
// all-reduces sit on the critical path; the 1F1B pipeline bubble is (p-1)/m of compute (Narayanan et al.
// 2021).
#include "time_model.hpp"

#include <algorithm>

#include "memory_model.hpp"

namespace loom::plan {

namespace {

constexpr double kQloraSlowdown = 1.3;  // dequantisation per matmul; torchtune Llama 3.1 8B LoRA vs QLoRA
constexpr double kFp8MfuFactor = 0.65;  // only linear layers run in fp8, plus scaling overhead
constexpr double kIntraLatencyUs = 3;
constexpr double kPcieEfficiency = 0.8;

double peakTflops(const PlanInput& in) {
  const GpuSpec& g = in.cluster.gpu;
  switch (in.precision) {
    case Precision::kFp32: return g.tf32Tflops > 0 ? g.tf32Tflops : g.bf16Tflops / 8;
    case Precision::kFp8: return g.fp8Tflops;
    default: return g.bf16Tflops;
  }
}

}  // namespace

Flops trainingFlops(const PlanInput& in) {
  const ModelSpec& m = in.model;
  const ParamCounts c = countParams(m);
  const double norms = m.layers * c.normsPerLayer + c.finalNorm;
  const double matmul = c.active - c.embedding - c.head - norms + double(m.vocab) * m.hidden;
  const double attn = 4.0 * m.layers * double(in.seqLen) * m.qDim();
  Flops f;
  f.forwardPerToken = 2 * matmul + attn;
  if (in.method == Method::kFull) {
    f.modelPerToken = 3 * f.forwardPerToken;
  } else {
    const double lora = m.layers * loraParamsPerLayer(m, in.lora.targets, in.lora.rank);
    f.modelPerToken = 2 * f.forwardPerToken + attn + 6 * lora;  // input gradients through attention: 2x
  }
  f.executedPerToken = f.modelPerToken;
  if (in.recompute == Recompute::kFull) f.executedPerToken += f.forwardPerToken;
  if (in.recompute == Recompute::kSelective && !in.flashAttention) f.executedPerToken += attn;
  return f;
}

StepTime estimateStepTime(const PlanInput& in, double pagedSpillBytes, const CommModel& comm) {
  const GpuSpec& g = in.cluster.gpu;
  const ModelSpec& m = in.model;
  const ParamShares sh = paramShares(in, countParams(m));
  const StateBytes sb = trainableStateBytes(in);
  const Flops f = trainingFlops(in);
  StepTime t;
  t.commModel = comm.name();
  t.peakTflops = peakTflops(in);
  t.mfu = in.knobs.mfu > 0 ? in.knobs.mfu : g.mfu;
  if (in.precision == Precision::kFp8) t.mfu *= kFp8MfuFactor;
  const double eff = t.peakTflops * 1e12 * t.mfu;
  const double replicaTokens = double(in.seqLen) * in.microBatch * in.gradAccum;
  t.compute = f.executedPerToken * replicaTokens / (in.tp * in.pp) / eff;
  if (in.method == Method::kQlora) t.compute *= kQloraSlowdown;
  if (in.pp > 1) t.bubble = t.compute * double(in.pp - 1) / in.gradAccum;

  // Communicators: tensor parallel innermost on a node, then pipeline, then data parallel.
  const int gpn = in.cluster.gpusPerNode, dp = std::max(1, in.dp()), mp = in.tp * in.pp;
  const NetworkSpec& net = in.cluster.network;
  const double nodeGBs = in.cluster.nicsPerNode * net.gbps / 8 * net.efficiency;
  const Link intra{g.intraGBs * g.linkEfficiency, kIntraLatencyUs};
  auto group = [&](int ranks, int perNode) {
    CommGroup cg;
    cg.ranks = ranks;
    cg.ranksPerNode = std::clamp(perNode, 1, ranks);
    cg.intra = intra;
    cg.inter = Link{nodeGBs * cg.ranksPerNode / gpn, net.latencyUs};
    return cg;
  };
  const CommGroup tpGroup = group(in.tp, std::min(in.tp, gpn));
  const CommGroup dpGroup = group(dp, mp >= gpn ? 1 : gpn / mp);
  const double a = in.precision == Precision::kFp32 ? 4 : 2;
  const double micro = t.compute / in.gradAccum;
  const double bwdFrac = (f.modelPerToken - f.forwardPerToken) / f.modelPerToken;

  if (dp > 1) {
    const double gradBytes = sh.trainableGpu * sb.grad;
    const double paramBytes = sh.trainableGpu * sb.weight;
    double window = micro * bwdFrac;
    switch (in.sharding) {
      case Sharding::kNone: t.dpComm = comm.allReduce(gradBytes, dpGroup); break;
      case Sharding::kZero1:
        t.dpComm = comm.reduceScatter(gradBytes, dpGroup) + comm.allGather(paramBytes, dpGroup);
        break;
      case Sharding::kZero2:
        t.dpComm = in.gradAccum * comm.reduceScatter(gradBytes, dpGroup) + comm.allGather(paramBytes, dpGroup);
        window = t.compute * bwdFrac;
        break;
      case Sharding::kZero3: {
        const double gathered = sh.paramsGpu * (in.method == Method::kQlora ? 0.52 : 2);
        t.dpComm = in.gradAccum * (2 * comm.allGather(gathered, dpGroup) + comm.reduceScatter(gradBytes, dpGroup));
        window = t.compute;
        break;
      }
    }
    t.dpExposed = t.dpComm - std::min(t.dpComm, in.knobs.overlap * window);
  }
  if (in.tp > 1) {
    const int perLayer = in.recompute == Recompute::kFull ? 6 : 4;  // 2 forward + 2 backward (+2 recompute)
    const double bytes = a * in.seqLen * in.microBatch * m.hidden;
    t.tpComm = double(in.gradAccum) * sh.layersPerStage * perLayer * comm.allReduce(bytes, tpGroup);
  }
  if (in.pp > 1) {
    const bool crossNode = mp > gpn;
    const Link link = crossNode ? Link{nodeGBs * in.tp / gpn, net.latencyUs} : intra;
    const double bytes = a * in.seqLen * in.microBatch * m.hidden / in.tp;
    t.ppComm = 2.0 * in.gradAccum * comm.sendRecv(bytes, link);
  }
  const double pcie = g.pcieGBs() * kPcieEfficiency * 1e9;
  if (in.offload != Offload::kNone) {
    const double shard = sh.trainableGpu / dp;
    t.offload = shard * (sb.grad + sb.weight) / pcie + shard / in.knobs.cpuAdamParamsPerSec;
    if (in.offload == Offload::kOptimizerAndParams) t.offload += in.gradAccum * 2.0 * sh.paramsGpu / dp * 2 / pcie;
  }
  t.pagedSpill = 2 * pagedSpillBytes / pcie;
  const double network = t.dpExposed + t.tpComm + t.ppComm;
  t.step = t.compute + t.bubble + network + t.offload + t.pagedSpill;
  t.networkShare = t.step > 0 ? network / t.step : 0;
  return t;
}

}  // namespace loom::plan

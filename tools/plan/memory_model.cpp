// Memory per GPU at the peak of a training step.
//
// Model states follow the ZeRO paper's accounting (Rajbhandari et al. 2020: 2 + 2 + 12 bytes per parameter
// for mixed-precision Adam), sharded by ZeRO stage over the data-parallel group. Activations generalise
// Korthikanti et al. 2022 (34sbh + 5as^2b per layer) to grouped-query attention, gated MLPs, FlashAttention
// and mixture of experts; QLoRA weights follow Dettmers et al. 2023 (NF4 + double quantisation).
// The peak is taken at the end of the forward pass (activations held, gradients not yet allocated) or at
// the end of the backward pass (all gradients allocated), whichever is larger, unless gradients persist
// (accumulation, data parallel buckets, pipeline), in which case both are resident together.
#include "memory_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace loom::plan {

namespace {

double actBytes(const PlanInput& in) { return in.precision == Precision::kFp32 ? 4.0 : 2.0; }

std::string gib(double b) { return fmt::format("{:.2f} GiB", b / kGiB); }

std::string count(double n) {
  return n >= 1e9 ? fmt::format("{:.3g}B", n / 1e9) : n >= 1e6 ? fmt::format("{:.3g}M", n / 1e6) : fmt::format("{:.0f}", n);
}

bool isPaged(Optimizer o) { return o == Optimizer::kPagedAdamW || o == Optimizer::kPagedAdamW8bit; }

// Adafactor keeps row and column second-moment factors per matrix (fp32) and a full second moment for
// vectors; no first moment by default (Shazeer and Stern 2018).
double adafactorBytes(const PlanInput& in, const ParamShares& sh) {
  const ModelSpec& m = in.model;
  const double h = m.hidden, qd = m.qDim(), kvd = m.kvDim(), I = m.intermediate;
  if (in.method != Method::kFull) return 4.0 * sh.trainableGpu / std::max(1, in.lora.rank);
  double perLayer = (h + qd) * 2 + (h + kvd) * 2 + m.experts * (m.gatedMlp ? 3 : 2) * (h + I) + h * m.normsPerLayer;
  double embed = (m.vocab + h) * (m.tiedEmbeddings ? 1 : 2);
  return 4.0 * (sh.layersPerStage * perLayer / in.tp + embed / in.tp);
}

}  // namespace

double MemoryBreakdown::bytes(const std::string& key) const {
  for (const auto& i : items)
    if (i.key == key) return i.bytes;
  return 0;
}

ParamShares paramShares(const PlanInput& in, const ParamCounts& c) {
  ParamShares s;
  const int L = in.model.layers;
  s.layersPerStage = (L + in.pp - 1) / in.pp;
  s.layerParams = c.layerTotal() / in.tp;
  const double embHead =
      in.pp == 1 ? c.embedding + c.head : std::max(c.embedding, c.head > 0 ? c.head : c.embedding);
  s.paramsGpu = s.layersPerStage * s.layerParams + embHead / in.tp + c.finalNorm;
  s.linearGpu = c.linearInLayers / L * s.layersPerStage / in.tp;
  s.trainableGpu = in.method == Method::kFull
                       ? s.paramsGpu
                       : s.layersPerStage * loraParamsPerLayer(in.model, in.lora.targets, in.lora.rank) / in.tp;
  return s;
}

StateBytes trainableStateBytes(const PlanInput& in) {
  const bool adapter = in.method != Method::kFull;
  StateBytes b;
  double adam = 8;
  switch (in.precision) {
    case Precision::kFp32: b.weight = 4, b.grad = 4; break;
    case Precision::kMixed:
    case Precision::kFp8:
      b.weight = adapter ? 4 : 2, b.grad = adapter ? 4 : 2, b.master = adapter ? 0 : 4;
      break;
    case Precision::kBf16: b.weight = 2, b.grad = 2, adam = 4; break;  // states in the parameters' dtype
  }
  switch (in.optimizer) {
    case Optimizer::kAdamW:
    case Optimizer::kPagedAdamW: b.optimizer = adam; break;
    case Optimizer::kAdamW8bit:
    case Optimizer::kPagedAdamW8bit: b.optimizer = 2 + 2 * 4.0 / 2048; break;  // two 8-bit states + absmax per 2048
    case Optimizer::kSgd: b.optimizer = 0; break;
    case Optimizer::kSgdMomentum: b.optimizer = in.precision == Precision::kBf16 ? 2 : 4; break;
    case Optimizer::kAdafactor: b.optimizer = 0; break;  // shape-dependent, added by estimateMemory
  }
  return b;
}

double activationBytesPerLayer(const PlanInput& in, Recompute r) {
  const ModelSpec& m = in.model;
  const double a = actBytes(in);
  const double sb = double(in.seqLen) * in.microBatch;
  const double h = m.hidden, qd = m.qDim(), kvd = m.kvDim(), I = m.intermediate, nh = m.heads;
  if (r == Recompute::kFull) return a * sb * h / in.tp;  // only the layer input is kept
  const double e = m.experts > 1 ? std::min(m.expertsPerToken, m.experts) : 1;
  double linear = m.normsPerLayer * a * sb * h     // norm inputs
                  + a * sb * h                     // q/k/v projection input
                  + a * sb * (qd + 2 * kvd)        // Q, K, V for the attention product
                  + a * sb * qd                    // attention output = out-projection input
                  + (m.parallelAttention ? 0 : e * a * sb * h)      // MLP input (shared when parallel)
                  + e * (m.gatedMlp ? 4 : 2) * a * sb * I          // gate, act, up, product / act in, act out
                  + (m.experts > 1 ? 4 * sb * m.experts : 0)       // router logits (fp32)
                  + (in.knobs.dropout ? 2 * sb * h : 0);           // two 1-byte dropout masks
  double scores;
  if (in.flashAttention) {
    scores = 4 * sb * nh;  // fp32 log-sum-exp per row; FlashAttention recomputes the scores
  } else {
    const double s2 = double(in.seqLen) * in.seqLen * in.microBatch * nh;
    scores = r == Recompute::kSelective ? 0 : a * s2 + (in.knobs.dropout ? s2 + a * s2 : 0);
  }
  return (linear + scores) / in.tp;
}

double logitsBytes(const PlanInput& in) {
  const double sbv = double(in.seqLen) * in.microBatch * double(in.model.vocab) / in.tp;
  // Logits in the compute dtype (kept as the model output), the fp32 log-softmax saved for backward and its
  // gradient at the start of backward; chunked loss upcasts one chunk at a time.
  return actBytes(in) * sbv + 8 * sbv / in.knobs.lossChunks;
}

MemoryBreakdown estimateMemory(const PlanInput& in) {
  const ModelSpec& m = in.model;
  const ParamCounts c = countParams(m);
  const ParamShares sh = paramShares(in, c);
  const StateBytes sb = trainableStateBytes(in);
  const int dp = std::max(1, in.dp());
  const bool zero1 = in.sharding != Sharding::kNone, zero2 = in.sharding >= Sharding::kZero2,
             zero3 = in.sharding == Sharding::kZero3;
  const bool offOpt = in.offload != Offload::kNone, offParams = in.offload == Offload::kOptimizerAndParams;
  MemoryBreakdown mb;
  mb.capacity = in.cluster.gpu.memoryGiB * kGiB;
  double host = 0;

  // Weights (and QLoRA quantisation constants).
  double weights = 0, quant = 0;
  std::string wDetail;
  if (in.method == Method::kFull) {
    weights = sh.paramsGpu * sb.weight;
    wDetail = fmt::format("{} params x {} B", count(sh.paramsGpu), sb.weight);
    if (in.precision == Precision::kFp8) {
      weights += sh.linearGpu;
      wDetail += " + fp8 copies of block matrices (1 B)";
    }
  } else if (in.method == Method::kLora) {
    const double frozen = in.precision == Precision::kFp32 ? 4 : 2;
    weights = sh.paramsGpu * frozen + sh.trainableGpu * sb.weight;
    wDetail = fmt::format("{} frozen x {} B + {} adapter x {} B", count(sh.paramsGpu), frozen,
                          count(sh.trainableGpu), sb.weight);
  } else {
    weights = (sh.paramsGpu - sh.linearGpu) * 2 + sh.linearGpu * 0.5 + sh.trainableGpu * sb.weight;
    quant = sh.linearGpu * (1.0 / 64 + 4.0 / (64 * 256));
    wDetail = fmt::format("{} NF4 x 0.5 B + {} 16-bit (embeddings, head, norms) + {} adapter x {} B",
                          count(sh.linearGpu), count(sh.paramsGpu - sh.linearGpu), count(sh.trainableGpu), sb.weight);
  }
  if (zero3) {
    weights /= dp, quant /= dp;
    wDetail += fmt::format(", sharded / {}", dp);
  }
  if (offParams) {
    host += weights + quant;
    weights = quant = 0;
    wDetail += ", offloaded to host";
  }

  // Gradients.
  double grads = sh.trainableGpu * sb.grad;
  std::string gDetail = fmt::format("{} trainable x {} B", count(sh.trainableGpu), sb.grad);
  if (zero2) grads /= dp, gDetail += fmt::format(", sharded / {}", dp);
  if (offOpt && zero2) host += grads, grads = 0, gDetail += ", offloaded to host";

  // Optimizer states, with the fp32 master copy.
  double opt = sh.trainableGpu * (sb.master + sb.optimizer);
  if (in.optimizer == Optimizer::kAdafactor) opt += adafactorBytes(in, sh);
  std::string oDetail = fmt::format("{} trainable x ({} B master + {:.3g} B {})", count(sh.trainableGpu), sb.master,
                                    sb.optimizer, toString(in.optimizer));
  if (zero1) opt /= dp, oDetail += fmt::format(", sharded / {}", dp);
  if (offOpt) host += opt, opt = 0, oDetail += ", offloaded to host";

  // Activations and logits.
  const double perLayer = activationBytesPerLayer(in, in.recompute);
  const int inflight = in.pp > 1 ? std::min(in.pp, in.gradAccum) : 1;
  const double stored = sh.layersPerStage * perLayer * inflight;
  const double transient = in.recompute == Recompute::kFull ? activationBytesPerLayer(in, Recompute::kNone) : 0;
  const double logits = logitsBytes(in);

  // Temporary and communication buffers.
  double temp = 0;
  std::string tDetail;
  auto addTemp = [&](double b, const std::string& what) {
    if (b <= 0) return;
    temp += b;
    tDetail += (tDetail.empty() ? "" : " + ") + what + " " + gib(b);
  };
  if (in.method == Method::kQlora) addTemp(2 * c.largestMatrix / in.tp, "dequantised weight");
  if (dp > 1 && !zero1) addTemp(sh.trainableGpu * sb.grad, "DDP gradient buckets");
  if (dp > 1 && zero1 && !zero3) addTemp(2 * std::min(sh.trainableGpu, 2e8) * sb.grad, "ZeRO reduce/gather buckets");
  if (zero3 || offParams) {
    const double frozen = in.method == Method::kQlora ? 0.52 : 2;
    addTemp(2 * sh.layerParams * frozen, "gathered layers (current + prefetch)");
    addTemp((in.method == Method::kFull ? sh.layerParams : sh.trainableGpu / sh.layersPerStage) * sb.grad,
            "layer gradient for reduce-scatter");
  }
  if (in.tp > 1) addTemp(actBytes(in) * in.seqLen * in.microBatch * m.hidden, "tensor-parallel all-reduce buffer");

  // Peak: are gradients resident while activations are?
  const bool persistent = in.gradAccum > 1 || in.pp > 1 || dp > 1 || offOpt;
  double actItem = stored + transient, logitsItem = logits, gradItem = grads;
  std::string aDetail = fmt::format("{} layers x {} x {} in flight{}", sh.layersPerStage, gib(perLayer), inflight,
                                    transient > 0 ? " + one recomputed layer " + gib(transient) : "");
  if (persistent) {
    mb.peakPhase = "end of forward, with gradients resident (accumulation or data-parallel buffers)";
  } else {
    const double fwd = stored + logits, bwd = grads + std::max(transient, perLayer);
    if (fwd >= bwd) {
      mb.peakPhase = "end of forward (gradients freed by zero_grad(set_to_none) are not yet allocated)";
      gradItem = 0;
      gDetail += " (not yet allocated at the peak)";
      actItem = stored;
      aDetail = fmt::format("{} layers x {}", sh.layersPerStage, gib(perLayer));
    } else {
      mb.peakPhase = "end of backward (all gradients allocated, activations freed)";
      actItem = std::max(transient, perLayer);
      aDetail = "last layer's activations during its backward";
      logitsItem = 0;
    }
  }

  auto add = [&](const char* key, const char* label, double b, std::string detail) {
    mb.items.push_back({key, label, b, std::move(detail)});
  };
  add("weights", in.method == Method::kQlora ? "weights (NF4 + 16-bit)" : "weights", weights, wDetail);
  if (in.method == Method::kQlora)
    add("quant_constants", "quantisation constants", quant, "double-quantised absmax: 8 bits per 64 + 32 bits per 16384");
  add("gradients", "gradients", gradItem, gDetail);
  const bool paged = isPaged(in.optimizer) && !offOpt;
  add("optimizer", paged ? "optimizer states (paged)" : "optimizer states", opt, oDetail);
  add("activations", "activations", actItem,
      aDetail + fmt::format(", recompute {}, flash {}", toString(in.recompute), in.flashAttention ? "on" : "off"));
  add("logits", "logits and loss buffers", logitsItem,
      fmt::format("s x b x V = {:.4g}M x ({:.0f} B + 8 B / {} chunks)",
                  double(in.seqLen) * in.microBatch * m.vocab / in.tp / 1e6, actBytes(in), in.knobs.lossChunks));
  add("temporary", "temporary and communication buffers", temp, tDetail.empty() ? "none" : tDetail);
  double allocated = 0;
  for (const auto& i : mb.items) allocated += i.bytes;
  add("context", "CUDA context and framework", in.knobs.contextGiB * kGiB, "fixed per process");
  add("fragmentation", "allocator fragmentation margin", in.knobs.fragmentation * allocated,
      fmt::format("{:.0f}% of allocated", in.knobs.fragmentation * 100));
  for (const auto& i : mb.items) mb.total += i.bytes;

  if (paged) {
    // Paged states live in unified memory: they use free GPU memory and spill to host under pressure.
    const double rest = mb.total - opt * (1 + in.knobs.fragmentation);
    const double onGpu = std::clamp(mb.capacity - rest, 0.0, opt);
    mb.pagedBytes = opt;
    mb.pagedSpillBytes = opt - onGpu;
    for (auto& i : mb.items)
      if (i.key == "optimizer") {
        i.bytes = onGpu;
        if (mb.pagedSpillBytes > 0) i.detail += fmt::format("; {} spills to host memory", gib(mb.pagedSpillBytes));
      }
    mb.total = rest + onGpu;
    host += mb.pagedSpillBytes;
  }
  mb.fits = mb.total <= mb.capacity;
  mb.hostBytesPerNode = host * in.cluster.gpusPerNode;
  return mb;
}

}  // namespace loom::plan

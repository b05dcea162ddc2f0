// Each formula against a hand-computed case, the rules of thumb, input errors, and speed.
#include <chrono>
#include <cmath>
#include <cstdio>

#include "planner.hpp"
#include "plan_test_util.hpp"
#include "recommend.hpp"

namespace loom::plan {
namespace {

using test::baseInput;

// A GPT-style layer as in Korthikanti et al. 2022: MHA, 4h GELU MLP, LayerNorm, dropout, no FlashAttention.
PlanInput gptInput() {
  PlanInput in = baseInput("llama-2-7b", "h100-sxm");
  ModelSpec& m = in.model;
  m.name = "gpt";
  m.hidden = 1024, m.heads = 16, m.kvHeads = 16, m.headDim = 0, m.intermediate = 4096;
  m.gatedMlp = false, m.layerNorm = true, m.normsPerLayer = 2, m.layers = 24, m.vocab = 50000;
  in.knobs.dropout = true;
  in.flashAttention = false;
  in.seqLen = 512, in.microBatch = 2;
  return in;
}

TEST(PlanFormulas, ActivationsReproduceKorthikanti) {
  PlanInput in = gptInput();
  const double sbh = 512.0 * 2 * 1024, a = 16, s = 512, h = 1024;
  EXPECT_DOUBLE_EQ(activationBytesPerLayer(in, Recompute::kNone), sbh * (34 + 5 * a * s / h));
  EXPECT_DOUBLE_EQ(activationBytesPerLayer(in, Recompute::kSelective), sbh * 34);
  EXPECT_DOUBLE_EQ(activationBytesPerLayer(in, Recompute::kFull), sbh * 2);
  in.tp = 2;  // sequence parallelism divides everything by t
  EXPECT_DOUBLE_EQ(activationBytesPerLayer(in, Recompute::kNone), sbh * (34 + 5 * a * s / h) / 2);
}

TEST(PlanFormulas, ActivationsForLlamaWithFlashAttentionByHand) {
  PlanInput in = baseInput("llama-2-7b", "h100-sxm");
  in.seqLen = 2048, in.microBatch = 1;
  // norms 2x2sbh + qkv input 2sbh + Q,K,V 6sbh + out input 2sbh + MLP input 2sbh + 4 x 2 x sbI + 4 s b heads.
  const double sb = 2048, h = 4096, I = 11008;
  const double expect = sb * h * (4 + 2 + 6 + 2 + 2) + 8 * sb * I + 4 * sb * 32;
  EXPECT_DOUBLE_EQ(activationBytesPerLayer(in, Recompute::kNone), expect);
}

TEST(PlanFormulas, StateBytesPerParameter) {
  PlanInput in = baseInput("llama-2-7b", "h100-sxm");
  EXPECT_DOUBLE_EQ(trainableStateBytes(in).total(), 16);  // ZeRO paper: 2 + 2 + 12
  in.precision = Precision::kBf16;
  EXPECT_DOUBLE_EQ(trainableStateBytes(in).total(), 8);
  in.precision = Precision::kFp32;
  EXPECT_DOUBLE_EQ(trainableStateBytes(in).total(), 16);
  in.precision = Precision::kMixed;
  in.optimizer = Optimizer::kAdamW8bit;
  EXPECT_DOUBLE_EQ(trainableStateBytes(in).total(), 2 + 2 + 4 + 2 + 8.0 / 2048);
  in.optimizer = Optimizer::kSgd;
  EXPECT_DOUBLE_EQ(trainableStateBytes(in).total(), 8);
  in.optimizer = Optimizer::kSgdMomentum;
  EXPECT_DOUBLE_EQ(trainableStateBytes(in).total(), 12);
}

TEST(PlanFormulas, RuleOfThumbSixteenBytesPerParameterBeforeActivations) {
  PlanInput in = baseInput("llama-2-7b", "h100-sxm");
  in.gradAccum = 2;  // gradients resident with activations
  const MemoryBreakdown mb = estimateMemory(in);
  const double p = countParams(in.model).total;
  EXPECT_DOUBLE_EQ(mb.bytes("weights") + mb.bytes("gradients") + mb.bytes("optimizer"), 16 * p);
}

TEST(PlanFormulas, ZeroStagesDivideByDataParallelSize) {
  PlanInput in = baseInput("llama-2-7b", "h100-sxm", 8);
  in.gradAccum = 2;
  const double p = countParams(in.model).total;
  in.sharding = Sharding::kZero1;
  MemoryBreakdown z1 = estimateMemory(in);
  EXPECT_DOUBLE_EQ(z1.bytes("optimizer"), 12 * p / 8);
  EXPECT_DOUBLE_EQ(z1.bytes("gradients"), 2 * p);
  in.sharding = Sharding::kZero2;
  EXPECT_DOUBLE_EQ(estimateMemory(in).bytes("gradients"), 2 * p / 8);
  in.sharding = Sharding::kZero3;
  MemoryBreakdown z3 = estimateMemory(in);
  EXPECT_DOUBLE_EQ(z3.bytes("weights"), 2 * p / 8);
  in.offload = Offload::kOptimizer;
  MemoryBreakdown off = estimateMemory(in);
  EXPECT_DOUBLE_EQ(off.bytes("optimizer"), 0);
  EXPECT_DOUBLE_EQ(off.bytes("gradients"), 0);
  EXPECT_NEAR(off.hostBytesPerNode, 8 * (12 * p / 8 + 2 * p / 8), 1);
}

TEST(PlanFormulas, QloraWeightsAreNf4WithDoubleQuantisation) {
  PlanInput in = baseInput("llama-2-7b", "rtx-4090");
  in.method = Method::kQlora;
  const ParamCounts c = countParams(in.model);
  const MemoryBreakdown mb = estimateMemory(in);
  const double lora = 32 * loraParamsPerLayer(in.model, in.lora.targets, in.lora.rank);
  EXPECT_DOUBLE_EQ(lora, 32.0 * 16 * 4 * (4096 + 4096));
  EXPECT_NEAR(mb.bytes("weights"), c.linearInLayers * 0.5 + (c.total - c.linearInLayers) * 2 + lora * 4, 1);
  EXPECT_NEAR(mb.bytes("quant_constants"), c.linearInLayers * (8.0 / 64 + 32.0 / (64 * 256)) / 8, 1);
}

TEST(PlanFormulas, LogitsBuffer) {
  PlanInput in = baseInput("llama-3.1-8b", "h100-sxm");
  in.seqLen = 1024, in.microBatch = 2;
  const double sbv = 1024.0 * 2 * 128256;
  EXPECT_DOUBLE_EQ(logitsBytes(in), 10 * sbv);
  in.knobs.lossChunks = 8;
  EXPECT_DOUBLE_EQ(logitsBytes(in), 3 * sbv);
}

TEST(PlanFormulas, FlopsPerTokenByHand) {
  PlanInput in = baseInput("llama-2-7b", "h100-sxm");
  in.seqLen = 2048;
  const double matmul = 32.0 * (4.0 * 4096 * 4096 + 3.0 * 4096 * 11008) + 32000.0 * 4096;
  const double attn = 4.0 * 32 * 2048 * 4096;
  Flops f = trainingFlops(in);
  EXPECT_DOUBLE_EQ(f.forwardPerToken, 2 * matmul + attn);
  EXPECT_DOUBLE_EQ(f.modelPerToken, 6 * matmul + 3 * attn);
  in.recompute = Recompute::kFull;
  EXPECT_DOUBLE_EQ(trainingFlops(in).executedPerToken, 8 * matmul + 4 * attn);
  in.recompute = Recompute::kNone;
  in.method = Method::kLora;
  const double lora = 32 * loraParamsPerLayer(in.model, in.lora.targets, in.lora.rank);
  EXPECT_DOUBLE_EQ(trainingFlops(in).modelPerToken, 4 * matmul + 3 * attn + 6 * lora);
}

TEST(PlanFormulas, AlphaBetaCollectivesByHand) {
  AlphaBetaCommModel m;
  CommGroup g;
  g.ranks = 8, g.ranksPerNode = 8, g.intra = {100, 0}, g.inter = {50, 0};
  EXPECT_DOUBLE_EQ(m.allReduce(1e9, g), 2 * 7.0 / 8 * 1e9 / 100e9);
  EXPECT_DOUBLE_EQ(m.reduceScatter(1e9, g), 7.0 / 8 * 1e9 / 100e9);
  g.ranks = 16;  // two nodes: hierarchical
  EXPECT_DOUBLE_EQ(m.allReduce(1e9, g), 2 * 7.0 / 8 * 1e9 / 100e9 + 2 * 1.0 / 2 * 1e9 / 50e9);
  g.ranks = 8, g.intra.latencyUs = 10;
  EXPECT_DOUBLE_EQ(m.allReduce(1e9, g), 2 * 7.0 / 8 * 1e9 / 100e9 + 2 * 7 * 10e-6);
  EXPECT_DOUBLE_EQ(m.sendRecv(1e6, Link{10, 5}), 5e-6 + 1e6 / 10e9);
  g.ranks = 1;
  EXPECT_DOUBLE_EQ(m.allReduce(1e9, g), 0);
}

TEST(PlanFormulas, DataParallelStepTimeUsesTheCommModel) {
  PlanInput in = baseInput("llama-2-7b", "h100-sxm", 8);
  in.knobs.overlap = 0;
  auto r = makePlan(in, PlanOptions{false});
  ASSERT_TRUE(r.isOk()) << r.status().message();
  const double grads = countParams(in.model).total * 2;
  const double bw = 450 * 0.8 * 1e9;
  EXPECT_NEAR(r->time.dpComm, 2 * (7 * 3e-6 + 7.0 / 8 * grads / bw), 1e-9);
  EXPECT_DOUBLE_EQ(r->time.dpExposed, r->time.dpComm);
  EXPECT_NEAR(r->time.step, r->time.compute + r->time.dpComm, 1e-12);
  EXPECT_NEAR(r->time.networkShare, r->time.dpComm / r->time.step, 1e-12);
}

TEST(PlanFormulas, ComputeTimeAndCostFollowFromFlops) {
  PlanInput in = baseInput("llama-2-7b", "h100-sxm");
  in.work.tokens = 1e8;
  in.knobs.mfu = 0.5;
  auto r = makePlan(in, PlanOptions{false});
  ASSERT_TRUE(r.isOk());
  const double flops = trainingFlops(in).executedPerToken * 2048;
  EXPECT_NEAR(r->time.compute, flops / (989.4e12 * 0.5), 1e-12);
  EXPECT_DOUBLE_EQ(r->steps, std::ceil(1e8 / 2048));
  EXPECT_NEAR(r->costUsd, r->steps * r->time.step / 3600 * 2.99, 1e-6);
}

TEST(PlanRulesOfThumb, SevenBQloraFitsA24GBGpuAtBatchOneAnd2K) {
  for (const char* model : {"llama-2-7b", "mistral-7b", "qwen2.5-7b"}) {
    PlanInput in = baseInput(model, "rtx-4090");
    in.method = Method::kQlora, in.microBatch = 1, in.seqLen = 2048;
    in.recompute = Recompute::kFull;
    auto r = makePlan(in);
    ASSERT_TRUE(r.isOk()) << r.status().message();
    EXPECT_TRUE(r->memory.fits) << model << " needs " << r->memory.total / kGiB << " GiB";
    EXPECT_LT(r->memory.total / kGiB, 12) << model;
    EXPECT_GE(r->maxMicroBatch, 1);
  }
}

TEST(PlanRulesOfThumb, ThirteenBFullFineTuningNeedsWellOver200GB) {
  PlanInput in = baseInput("llama-2-13b", "a100-80gb-sxm", 8);
  in.sharding = Sharding::kZero3, in.recompute = Recompute::kFull;
  auto r = makePlan(in, PlanOptions{false});
  ASSERT_TRUE(r.isOk());
  EXPECT_GT(r->memory.total * 8, 220e9);
  PlanInput one = baseInput("llama-2-13b", "b200");
  auto single = makePlan(one, PlanOptions{false});
  EXPECT_FALSE(single->memory.fits);
  EXPECT_GT(single->memory.total, 200e9);
}

TEST(PlanRulesOfThumb, SeventyBFitsEightTimes80GBOnlyWithSharding) {
  PlanInput in = baseInput("llama-2-70b", "h100-sxm", 8);
  in.method = Method::kLora, in.recompute = Recompute::kFull;
  EXPECT_FALSE(makePlan(in, PlanOptions{false})->memory.fits);
  in.sharding = Sharding::kZero3;
  auto r = makePlan(in, PlanOptions{false});
  EXPECT_TRUE(r->memory.fits) << r->memory.total / kGiB;
  // Full fine-tuning needs the optimizer on the host as well: 16 bytes x 69B / 8 > 80 GB.
  in.method = Method::kFull;
  EXPECT_FALSE(makePlan(in, PlanOptions{false})->memory.fits);
  in.offload = Offload::kOptimizer;
  EXPECT_TRUE(makePlan(in, PlanOptions{false})->memory.fits);
}

TEST(PlanRulesOfThumb, LimitsAreConsistentWithFit) {
  PlanInput in = baseInput("llama-3.1-8b", "a100-80gb-sxm");
  in.method = Method::kLora;
  in.recompute = Recompute::kFull;
  auto r = makePlan(in);
  ASSERT_TRUE(r.isOk());
  ASSERT_GT(r->maxMicroBatch, 1);
  PlanInput at = in;
  at.microBatch = r->maxMicroBatch;
  EXPECT_TRUE(estimateMemory(at).fits);
  at.microBatch = r->maxMicroBatch + 1;
  EXPECT_FALSE(estimateMemory(at).fits);
  at = in;
  at.seqLen = r->maxSeqLen;
  EXPECT_TRUE(estimateMemory(at).fits);
}

TEST(PlanErrors, BadInputsNameTheProblem) {
  auto expectError = [](PlanInput in, const std::string& fragment) {
    auto r = makePlan(in);
    ASSERT_FALSE(r.isOk()) << fragment;
    EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
  };
  PlanInput in = baseInput("llama-2-7b", "h100-sxm");
  in.microBatch = 0;
  expectError(in, "--micro-batch");
  in = baseInput("llama-2-7b", "h100-sxm");
  in.seqLen = -3;
  expectError(in, "--seq-len");
  in.seqLen = 8192;
  expectError(in, "exceeds the 4096 context");
  in = baseInput("falcon-7b", "h100-sxm");
  in.method = Method::kLora, in.lora.targets = kTargetGate | kTargetQ;
  expectError(in, "no gate projection");
  in = baseInput("llama-2-7b", "a100-80gb-sxm");
  in.precision = Precision::kFp8;
  expectError(in, "fp8");
  in = baseInput("llama-2-7b", "gaudi2");
  in.method = Method::kQlora;
  expectError(in, "bitsandbytes");
  in = baseInput("llama-2-7b", "h100-sxm");
  in.sharding = Sharding::kZero3;
  expectError(in, "at least 2 data-parallel GPUs");
  in = baseInput("llama-2-7b", "h100-sxm", 8);
  in.tp = 3;
  expectError(in, "multiple of tensor x pipeline");
  in = baseInput("llama-2-7b", "h100-sxm");
  in.cluster.gpusPerNode = 16;
  expectError(in, "exceeds the 8");
  in = baseInput("llama-2-7b", "h100-sxm");
  in.knobs.mfu = 1.5;
  expectError(in, "--mfu");
  in = baseInput("llama-2-7b", "h100-sxm");
  in.method = Method::kLora, in.lora.rank = 0;
  expectError(in, "--lora-rank");
  EXPECT_FALSE(parseMethod("prefix-tuning").isOk());
  EXPECT_NE(parseOptimizer("lion").status().message().find("adamw"), std::string::npos);
  EXPECT_FALSE(parseLoraTargets("q,x").isOk());
}

TEST(PlanSpeed, OnePlanAndTheWholeCatalogRecommendation) {
  PlanInput in = baseInput("llama-3.1-70b", "h100-sxm", 8, 2);
  in.sharding = Sharding::kZero3, in.method = Method::kLora, in.work.tokens = 1e9;
  auto t0 = std::chrono::steady_clock::now();
  auto r = makePlan(in);  // including the largest micro-batch and sequence searches
  const double planMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(r.isOk());
  PlanInput base = baseInput("llama-3.1-8b", "h100-sxm");
  base.work.tokens = 1e9;
  t0 = std::chrono::steady_clock::now();
  auto rec = recommend(base, test::gpus(), RecommendOptions{});
  const double recMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(rec.isOk());
  std::printf("[speed] one plan: %.3f ms (budget 50 ms); recommend over %d configurations: %.1f ms (budget 1000 ms)\n",
              planMs, rec->evaluated, recMs);
  // Generous bounds (10x the budget): sanitizer builds are slow; benchmarks measure the real speed.
  EXPECT_LT(planMs, 500);
  EXPECT_LT(recMs, 10000);
  EXPECT_GT(rec->evaluated, 500);
  EXPECT_FALSE(rec->fitting.empty());
}

TEST(PlanRecommend, RanksAndExplainsRejections) {
  PlanInput base = baseInput("llama-2-70b", "h100-sxm");
  base.work.tokens = 1e8;
  RecommendOptions opts;
  opts.gpus = {"rtx-4090", "h100-sxm", "a100-80gb-sxm"};
  opts.maxGpus = 8;
  auto rec = recommend(base, test::gpus(), opts);
  ASSERT_TRUE(rec.isOk()) << rec.status().message();
  ASSERT_FALSE(rec->fitting.empty());
  for (size_t k = 1; k < rec->byCost.size(); ++k)
    EXPECT_LE(costKey(rec->fitting[rec->byCost[k - 1]]), costKey(rec->fitting[rec->byCost[k]]));
  for (size_t k = 1; k < rec->byTime.size(); ++k)
    EXPECT_LE(rec->fitting[rec->byTime[k - 1]].totalSeconds, rec->fitting[rec->byTime[k]].totalSeconds);
  for (const auto& r : rec->fitting) EXPECT_TRUE(r.memory.fits);
  for (const auto& r : rec->rejected) EXPECT_FALSE(r.reason.empty());
  // 70B full fine-tuning on 24 GB cards up to 8 GPUs: nothing fits, and the verdict says how close it got.
  bool sawRtx = false;
  for (const auto& v : rec->verdicts)
    if (v.gpu == "rtx-4090") {
      sawRtx = true;
      EXPECT_EQ(v.fitting, 0);
      EXPECT_NE(v.summary.find("nothing fits"), std::string::npos) << v.summary;
    }
  EXPECT_TRUE(sawRtx);
}

}  // namespace
}  // namespace loom::plan

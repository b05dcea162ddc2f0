// Parameter counts against published totals, catalog coverage, config.json parsing and its errors.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>

#include "plan_test_util.hpp"

namespace loom::plan {
namespace {

using test::gpus;
using test::models;

TEST(PlanParams, EveryCatalogModelMatchesItsPublishedTotalWithinOnePercent) {
  ASSERT_GE(models().models().size(), 25u);
  for (const auto& m : models().models()) {
    ASSERT_GT(m.publishedParams, 0) << m.name;
    const ParamCounts c = countParams(m);
    const double err = std::abs(c.total - m.publishedParams) / m.publishedParams;
    EXPECT_LT(err, 0.01) << m.name << ": computed " << c.total << " published " << m.publishedParams;
    if (m.publishedActiveParams > 0) {
      const double aerr = std::abs(c.active - m.publishedActiveParams) / m.publishedActiveParams;
      EXPECT_LT(aerr, 0.01) << m.name << " active: computed " << c.active;
    }
    EXPECT_FALSE(m.source.empty()) << m.name;
    EXPECT_FALSE(m.paramsSource.empty()) << m.name;
  }
}

TEST(PlanParams, Llama2_7bCountsExactlyByHand) {
  // 2 x 32000 x 4096 embeddings/head + 32 x (4 x 4096^2 + 3 x 4096 x 11008 + 2 x 4096) + 4096.
  const ParamCounts c = countParams(*models().find("llama-2-7b"));
  EXPECT_DOUBLE_EQ(c.total, 6738415616.0);
  EXPECT_DOUBLE_EQ(c.attentionPerLayer, 4.0 * 4096 * 4096);
  EXPECT_DOUBLE_EQ(c.mlpPerLayer, 3.0 * 4096 * 11008);
}

TEST(PlanParams, CatalogCoversTheModelsTheIssueNames) {
  for (const char* name : {"llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3-8b", "llama-3-70b", "llama-3.1-8b",
                           "llama-3.1-70b", "llama-3.1-405b", "llama-3.2-1b", "llama-3.2-3b", "mistral-7b",
                           "mixtral-8x7b", "qwen2.5-0.5b", "qwen2.5-72b", "phi-3-mini", "phi-4-mini", "gemma-2b",
                           "gemma-7b", "falcon-7b", "falcon-40b"})
    EXPECT_TRUE(models().find(name).isOk()) << name;
  EXPECT_TRUE(models().find("Llama 3.1 8B").isOk());  // case and separators are ignored
}

TEST(PlanParams, MixtralHasTotalAndActiveParameters) {
  const ModelSpec m = *models().find("mixtral-8x7b");
  const ParamCounts c = countParams(m);
  EXPECT_EQ(m.experts, 8);
  EXPECT_EQ(m.expertsPerToken, 2);
  EXPECT_GT(c.total / c.active, 3.5);
}

TEST(PlanParams, GpuCatalogCoversTheIssueList) {
  std::set<std::string> names;
  for (const auto& g : gpus().gpus()) {
    names.insert(g.name);
    EXPECT_FALSE(g.source.empty()) << g.name;
    EXPECT_FALSE(g.priceSource.empty()) << g.name;
    EXPECT_FALSE(g.priceDate.empty()) << g.name;
    EXPECT_GT(g.pricePerHour, 0) << g.name;
    EXPECT_TRUE(gpus().findNetwork(g.defaultNetwork).isOk()) << g.name;
  }
  for (const char* n : {"rtx-4090", "rtx-4000-ada", "rtx-6000-ada", "l40s", "a10", "a100-40gb-sxm", "a100-80gb-sxm",
                        "a100-40gb-pcie", "a100-80gb-pcie", "h100-sxm", "h100-pcie", "h100-nvl", "h200", "b200",
                        "mi250x", "mi300x", "gaudi2", "gaudi3"})
    EXPECT_TRUE(names.count(n)) << n;
}

TEST(PlanParams, HfConfigGivesTheSameModelAsTheCatalog) {
  const std::string cfg = R"({"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":4096,
    "intermediate_size":14336,"num_attention_heads":32,"num_hidden_layers":32,"num_key_value_heads":8,
    "vocab_size":128256,"tie_word_embeddings":false,"max_position_embeddings":131072})";
  auto m = modelFromHfConfig(cfg, "cfg.json");
  ASSERT_TRUE(m.isOk()) << m.status().message();
  EXPECT_DOUBLE_EQ(countParams(*m).total, countParams(*models().find("llama-3.1-8b")).total);
  EXPECT_EQ(m->maxPositions, 131072);
}

TEST(PlanParams, FalconConfigNamesAreUnderstood) {
  const std::string cfg = R"({"model_type":"falcon","hidden_size":4544,"n_head":71,"n_layer":32,"multi_query":true,
    "parallel_attn":true,"new_decoder_architecture":false,"bias":false,"vocab_size":65024})";
  auto m = modelFromHfConfig(cfg, "falcon.json");
  ASSERT_TRUE(m.isOk()) << m.status().message();
  EXPECT_EQ(m->kvHeads, 1);
  EXPECT_FALSE(m->gatedMlp);
  EXPECT_TRUE(m->tiedEmbeddings);
  EXPECT_NEAR(countParams(*m).total, 6921720704.0, 6921720704.0 * 0.001);
}

TEST(PlanParams, ConfigMissingAFieldNamesIt) {
  auto m = modelFromHfConfig(R"({"model_type":"llama","hidden_size":4096,"num_attention_heads":32,
    "intermediate_size":11008,"vocab_size":32000})",
                             "broken.json");
  ASSERT_FALSE(m.isOk());
  EXPECT_NE(m.status().message().find("num_hidden_layers"), std::string::npos) << m.status().message();
  EXPECT_NE(m.status().message().find("broken.json"), std::string::npos);
  auto bad = modelFromHfConfig("{not json", "x.json");
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("not valid JSON"), std::string::npos);
  auto zero = modelFromHfConfig(R"({"hidden_size":0,"num_attention_heads":32,"num_hidden_layers":2,
    "intermediate_size":11008,"vocab_size":32000})",
                                "zero.json");
  ASSERT_FALSE(zero.isOk());
  EXPECT_NE(zero.status().message().find("hidden size"), std::string::npos) << zero.status().message();
}

TEST(PlanParams, RawParamsSolveTheMlpWidthToMatchTheTotal) {
  auto m = modelFromParams(7e9, 0, 0, 0, 0, 0);
  ASSERT_TRUE(m.isOk()) << m.status().message();
  EXPECT_NEAR(countParams(*m).total, 7e9, 7e9 * 0.001);
  auto shaped = modelFromParams(13e9, 40, 5120, 40, 40, 32000);
  ASSERT_TRUE(shaped.isOk());
  EXPECT_EQ(shaped->layers, 40);
  EXPECT_NEAR(countParams(*shaped).total, 13e9, 13e9 * 0.001);
  EXPECT_FALSE(modelFromParams(0, 0, 0, 0, 0, 0).isOk());
  EXPECT_FALSE(modelFromParams(-5, 0, 0, 0, 0, 0).isOk());
  auto tiny = modelFromParams(1e6, 32, 4096, 32, 32, 32000);
  ASSERT_FALSE(tiny.isOk());
  EXPECT_NE(tiny.status().message().find("too small"), std::string::npos);
}

TEST(PlanParams, UnknownNamesAreReportedWithChoices) {
  auto m = models().find("llama-9-1b");
  ASSERT_FALSE(m.isOk());
  EXPECT_NE(m.status().message().find("llama-9-1b"), std::string::npos);
  auto g = gpus().findGpu("rtx-9090");
  ASSERT_FALSE(g.isOk());
  EXPECT_NE(g.status().message().find("rtx-9090"), std::string::npos);
  EXPECT_NE(g.status().message().find("h100-sxm"), std::string::npos);
}

TEST(PlanParams, CountsParseWithSuffixes) {
  EXPECT_DOUBLE_EQ(*parseCount("7B"), 7e9);
  EXPECT_DOUBLE_EQ(*parseCount("500M"), 5e8);
  EXPECT_DOUBLE_EQ(*parseCount("1.5e9"), 1.5e9);
  EXPECT_DOUBLE_EQ(*parseCount("2T"), 2e12);
  EXPECT_FALSE(parseCount("seven").isOk());
  EXPECT_FALSE(parseCount("").isOk());
}

}  // namespace
}  // namespace loom::plan

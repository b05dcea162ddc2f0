// A decoder-only transformer described by its shape, and the parameter counts that follow from it.
// Shapes come from data/models.json, a Hugging Face config.json, or raw --params with shape flags.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.hpp"

namespace loom::plan {

struct ModelSpec {
  std::string name;
  std::string family;
  std::string source;        // where the shape comes from (config URL or path)
  int layers = 0;
  int hidden = 0;
  int intermediate = 0;      // per expert for mixture-of-experts models
  int heads = 0;
  int kvHeads = 0;
  int headDim = 0;           // 0: hidden / heads
  int64_t vocab = 0;
  bool tiedEmbeddings = false;
  bool gatedMlp = true;      // SwiGLU/GeGLU: gate, up, down; otherwise up, down
  bool layerNorm = false;    // LayerNorm (weight + bias) instead of RMSNorm
  bool attentionBias = false;  // q, k, v biases (Qwen2)
  bool linearBias = false;   // biases on every linear layer
  bool parallelAttention = false;
  int normsPerLayer = 2;
  int experts = 1;           // mixture of experts: experts per layer
  int expertsPerToken = 1;
  int64_t maxPositions = 0;  // 0: unknown
  double publishedParams = 0;
  double publishedActiveParams = 0;
  std::string paramsSource;

  int headDimension() const { return headDim > 0 ? headDim : hidden / heads; }
  // 64-bit: heads * head_dim from a hostile config.json must not overflow an int.
  int64_t qDim() const { return int64_t(heads) * headDimension(); }
  int64_t kvDim() const { return int64_t(kvHeads) * headDimension(); }
};

// Parameter counts in elements; "active" counts one token's route through a mixture of experts.
struct ParamCounts {
  double embedding = 0;
  double head = 0;           // 0 when tied to the embedding
  double attentionPerLayer = 0;
  double mlpPerLayer = 0;    // all experts (plus router)
  double mlpActivePerLayer = 0;
  double normsPerLayer = 0;
  double finalNorm = 0;
  double layerTotal() const { return attentionPerLayer + mlpPerLayer + normsPerLayer; }
  double total = 0;
  double active = 0;
  double linearInLayers = 0;  // matrices inside the blocks: what QLoRA quantises
  double largestMatrix = 0;   // largest single weight (temporary dequantisation / gather buffers)
};

ParamCounts countParams(const ModelSpec& m);

// LoRA parameters added per layer for the target bit set (LoraTarget in plan_types.hpp).
double loraParamsPerLayer(const ModelSpec& m, unsigned targets, int rank);

// Checks that every shape field is present and positive; the message names the model and the field.
Status validateModel(const ModelSpec& m);

// Builds a model from Hugging Face config.json text (Llama, Mistral, Mixtral, Qwen2, Phi-3, Gemma,
// Gemma 2, Falcon names). Missing required fields are reported by name.
Result<ModelSpec> modelFromHfConfig(const std::string& jsonText, const std::string& origin);

// Raw size with optional shape: fills what is missing from a Llama-like aspect ratio and solves the
// MLP width so the total equals `params`.
Result<ModelSpec> modelFromParams(double params, int layers, int hidden, int heads, int kvHeads, int64_t vocab);

class ModelCatalog {
 public:
  static Result<ModelCatalog> load(const std::string& path);
  static Result<ModelCatalog> parse(const std::string& jsonText, const std::string& origin);
  const std::vector<ModelSpec>& models() const { return models_; }
  // Case-insensitive; the error lists near names.
  Result<ModelSpec> find(const std::string& name) const;

 private:
  std::vector<ModelSpec> models_;
};

// Reads a whole file; the error names the path.
Result<std::string> readFile(const std::string& path);

}  // namespace loom::plan

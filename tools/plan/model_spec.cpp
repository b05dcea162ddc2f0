// Model shapes: parameter counting and loading from the catalog or a Hugging Face config.json.
//
// Counting follows the released architectures: attention q/k/v/o with grouped-query K/V heads, gated
// (3-matrix) or standard (2-matrix) MLPs, optional q/k/v biases, RMSNorm (weight) or LayerNorm (weight and
// bias), mixture-of-experts MLPs with a router, and a separate LM head unless tied to the embedding.
#include "model_spec.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "gpu_catalog.hpp"
#include "int_fields.hpp"
#include "plan_types.hpp"

namespace loom::plan {

using nlohmann::json;

ParamCounts countParams(const ModelSpec& m) {
  ParamCounts c;
  const double h = m.hidden, qd = m.qDim(), kvd = m.kvDim(), I = m.intermediate;
  c.embedding = double(m.vocab) * h;
  c.head = m.tiedEmbeddings ? 0 : double(m.vocab) * h;
  c.attentionPerLayer = h * qd + 2 * h * kvd + qd * h;
  if (m.attentionBias || m.linearBias) c.attentionPerLayer += qd + 2 * kvd;
  if (m.linearBias) c.attentionPerLayer += h;
  double expert = (m.gatedMlp ? 3 : 2) * h * I;
  if (m.linearBias) expert += (m.gatedMlp ? 2 * I : I) + h;
  const double router = m.experts > 1 ? h * m.experts : 0;
  c.mlpPerLayer = m.experts * expert + router;
  c.mlpActivePerLayer = std::min(m.expertsPerToken, m.experts) * expert + router;
  const double norm = m.layerNorm ? 2 * h : h;
  c.normsPerLayer = m.normsPerLayer * norm;
  c.finalNorm = norm;
  c.total = c.embedding + c.head + m.layers * c.layerTotal() + c.finalNorm;
  c.active = c.embedding + c.head + m.layers * (c.attentionPerLayer + c.mlpActivePerLayer + c.normsPerLayer) +
             c.finalNorm;
  c.linearInLayers = m.layers * (2 * h * qd + 2 * h * kvd + m.experts * (m.gatedMlp ? 3 : 2) * h * I + router);
  c.largestMatrix = std::max({h * I, h * qd});
  return c;
}

double loraParamsPerLayer(const ModelSpec& m, unsigned targets, int rank) {
  const double h = m.hidden, qd = m.qDim(), kvd = m.kvDim(), I = m.intermediate, r = rank;
  double p = 0;
  if (targets & kTargetQ) p += r * (h + qd);
  if (targets & kTargetK) p += r * (h + kvd);
  if (targets & kTargetV) p += r * (h + kvd);
  if (targets & kTargetO) p += r * (qd + h);
  double mlp = 0;
  if ((targets & kTargetGate) && m.gatedMlp) mlp += r * (h + I);
  if (targets & kTargetUp) mlp += r * (h + I);
  if (targets & kTargetDown) mlp += r * (I + h);
  return p + m.experts * mlp;
}

Status validateModel(const ModelSpec& m) {
  auto bad = [&](const char* field, double v) {
    return invalidArgument(fmt::format("model '{}': {} must be positive (got {})", m.name, field, v));
  };
  if (m.layers <= 0) return bad("layers", m.layers);
  if (m.hidden <= 0) return bad("hidden size", m.hidden);
  if (m.intermediate <= 0) return bad("intermediate size", m.intermediate);
  if (m.heads <= 0) return bad("attention heads", m.heads);
  if (m.kvHeads <= 0) return bad("key/value heads", m.kvHeads);
  if (m.vocab <= 0) return bad("vocabulary size", double(m.vocab));
  if (m.heads % m.kvHeads != 0)
    return invalidArgument(fmt::format("model '{}': {} attention heads is not a multiple of {} key/value heads",
                                       m.name, m.heads, m.kvHeads));
  if (m.headDim <= 0 && m.hidden % m.heads != 0)
    return invalidArgument(fmt::format("model '{}': hidden size {} is not divisible by {} heads (give head_dim)",
                                       m.name, m.hidden, m.heads));
  if (m.experts < 1 || m.expertsPerToken < 1 || m.expertsPerToken > m.experts)
    return invalidArgument(fmt::format("model '{}': experts per token ({}) must be between 1 and the number of "
                                       "experts ({})", m.name, m.expertsPerToken, m.experts));
  return Status::ok();
}

namespace {

// First present key among alternatives; reports all names when none is present.
Result<double> need(const json& j, std::initializer_list<const char*> keys, const std::string& origin) {
  for (const char* k : keys) {
    auto it = j.find(k);
    if (it != j.end() && it->is_number()) return it->get<double>();
    if (it != j.end() && !it->is_null())
      return invalidArgument(fmt::format("{}: field '{}' is not a number", origin, k));
  }
  std::string names;
  for (const char* k : keys) names += std::string(names.empty() ? "" : ", ") + "'" + k + "'";
  return invalidArgument(fmt::format("{} is missing {}", origin, names));
}

double opt(const json& j, std::initializer_list<const char*> keys, double dflt) {
  for (const char* k : keys) {
    auto it = j.find(k);
    if (it != j.end() && it->is_number()) return it->get<double>();
  }
  return dflt;
}

bool optBool(const json& j, const char* key, bool dflt) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() ? it->get<bool>() : dflt;
}

std::string optStr(const json& j, const char* key, const std::string& dflt = "") {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : dflt;
}

bool isOneOf(const std::string& s, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (s == n) return true;
  return false;
}

Result<ModelSpec> fromJson(const json& j, const std::string& origin) {
  if (!j.is_object()) return invalidArgument(fmt::format("{}: expected a JSON object", origin));
  ModelSpec m;
  const std::string type = optStr(j, "model_type");
  m.name = optStr(j, "name", optStr(j, "_name_or_path", origin));
  m.family = optStr(j, "family", type);
  m.source = optStr(j, "source", origin);
  auto layers = need(j, {"num_hidden_layers", "n_layer", "num_layers"}, origin);
  if (!layers) return layers.status();
  auto hidden = need(j, {"hidden_size", "n_embd", "d_model"}, origin);
  if (!hidden) return hidden.status();
  auto heads = need(j, {"num_attention_heads", "n_head", "num_heads"}, origin);
  if (!heads) return heads.status();
  auto vocab = need(j, {"vocab_size"}, origin);
  if (!vocab) return vocab.status();
  IntFields ints(origin);
  m.layers = ints.get<int>(*layers, "layers");
  m.hidden = ints.get<int>(*hidden, "hidden size");
  m.heads = ints.get<int>(*heads, "attention heads");
  m.vocab = ints.get<int64_t>(*vocab, "vocabulary size");
  const std::string mlp = optStr(j, "mlp");
  const bool standardType = isOneOf(type, {"falcon", "gpt2", "gpt_neox", "phi", "gpt_bigcode", "starcoder2"});
  m.gatedMlp = mlp.empty() ? !standardType : mlp == "gated";
  double inter = opt(j, {"intermediate_size", "ffn_hidden_size", "n_inner"}, 0);
  if (inter <= 0) {
    if (m.gatedMlp) {
      auto i = need(j, {"intermediate_size", "ffn_hidden_size"}, origin);
      if (!i) return i.status();
    }
    inter = 4.0 * m.hidden;  // standard MLPs default to 4h (GPT-2, Falcon)
  }
  m.intermediate = ints.get<int>(inter, "intermediate size");
  double kv = opt(j, {"num_key_value_heads", "n_head_kv", "num_kv_heads"}, 0);
  if (kv <= 0) kv = optBool(j, "multi_query", false) ? 1 : m.heads;
  m.kvHeads = ints.get<int>(kv, "key/value heads");
  m.headDim = ints.get<int>(opt(j, {"head_dim"}, 0), "head_dim");
  const bool tiedDefault = isOneOf(type, {"gemma", "gemma2", "gemma3_text", "falcon", "gpt2"});
  m.tiedEmbeddings = optBool(j, "tie_word_embeddings", tiedDefault);
  const std::string norm = optStr(j, "norm");
  m.layerNorm = norm.empty() ? isOneOf(type, {"falcon", "gpt2", "gpt_neox", "phi", "gpt_bigcode"}) : norm == "layernorm";
  m.attentionBias = optBool(j, "attention_bias", type == "qwen2" || type == "qwen2_moe");
  m.linearBias = optBool(j, "linear_bias", optBool(j, "bias", isOneOf(type, {"gpt2", "gpt_neox", "phi"})));
  m.parallelAttention = optBool(j, "parallel_attention", optBool(j, "parallel_attn", false));
  int normsDefault = isOneOf(type, {"gemma2", "gemma3_text"}) ? 4 : 2;
  if (type == "falcon" && !optBool(j, "new_decoder_architecture", false) && m.parallelAttention) normsDefault = 1;
  m.normsPerLayer = ints.get<int>(opt(j, {"norms_per_layer"}, normsDefault), "norms_per_layer");
  m.experts = ints.get<int>(opt(j, {"num_local_experts", "num_experts"}, 1), "experts");
  m.expertsPerToken = ints.get<int>(opt(j, {"num_experts_per_tok"}, m.experts > 1 ? 2 : 1), "experts per token");
  m.maxPositions =
      ints.get<int64_t>(opt(j, {"max_position_embeddings", "n_positions", "max_seq_len"}, 0), "max positions");
  m.publishedParams = opt(j, {"published_params"}, 0);
  m.publishedActiveParams = opt(j, {"published_active_params"}, 0);
  m.paramsSource = optStr(j, "params_source");
  if (!ints.status().isOk()) return ints.status();
  LOOM_TRY(validateModel(m));
  return m;
}

}  // namespace

Result<std::string> readFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return invalidArgument(fmt::format("cannot read '{}'", path));
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Result<ModelSpec> modelFromHfConfig(const std::string& jsonText, const std::string& origin) {
  json j = json::parse(jsonText, nullptr, false);
  if (j.is_discarded()) return invalidArgument(fmt::format("{} is not valid JSON", origin));
  // Multimodal configs nest the language model.
  if (j.contains("text_config") && !j.contains("num_hidden_layers")) j = j["text_config"];
  auto m = fromJson(j, "config.json '" + origin + "'");
  if (m && m->source.empty()) m->source = origin;
  return m;
}

Result<ModelSpec> modelFromParams(double params, int layers, int hidden, int heads, int kvHeads, int64_t vocab) {
  if (!(params > 0)) return invalidArgument(fmt::format("--params must be positive (got {})", params));
  if (layers < 0 || hidden < 0 || heads < 0 || kvHeads < 0 || vocab < 0)
    return invalidArgument("shape flags (--layers, --hidden, --heads, --kv-heads, --vocab) must be positive");
  ModelSpec m;
  m.name = fmt::format("custom-{:.3g}B", params / 1e9);
  m.family = "custom";
  m.source = "--params";
  m.vocab = vocab > 0 ? vocab : 32000;
  if (hidden <= 0) {
    // Llama-like aspect: params ~ 12 L h^2 with L ~ h / 128.
    double h = layers > 0 ? std::sqrt(params / (12.0 * layers)) : std::cbrt(params * 128.0 / 12.0);
    hidden = std::max(128, int(std::lround(h / 128.0)) * 128);
  }
  m.hidden = hidden;
  m.layers = layers > 0 ? layers : std::max(1, int(std::lround(hidden / 128.0)));
  m.heads = heads > 0 ? heads : std::max(1, hidden / 128);
  m.kvHeads = kvHeads > 0 ? kvHeads : m.heads;
  m.intermediate = 1;
  ParamCounts base = countParams(m);
  const double rest = base.total - m.layers * 3.0 * m.hidden;  // everything but the MLP
  const double inter = (params - rest) / (3.0 * m.hidden * m.layers);
  if (inter < m.hidden / 4.0)
    return invalidArgument(fmt::format("--params {:.4g} is too small for {} layers of hidden size {} and vocabulary {}",
                                       params, m.layers, m.hidden, m.vocab));
  m.intermediate = int(std::lround(inter));
  m.publishedParams = params;
  m.paramsSource = "--params";
  LOOM_TRY(validateModel(m));
  return m;
}

Result<ModelCatalog> ModelCatalog::load(const std::string& path) {
  auto text = readFile(path);
  if (!text) return text.status();
  return parse(*text, path);
}

Result<ModelCatalog> ModelCatalog::parse(const std::string& jsonText, const std::string& origin) {
  json j = json::parse(jsonText, nullptr, false);
  if (j.is_discarded()) return invalidArgument(fmt::format("model catalog '{}' is not valid JSON", origin));
  if (!j.contains("models") || !j["models"].is_array())
    return invalidArgument(fmt::format("model catalog '{}' has no 'models' array", origin));
  ModelCatalog c;
  for (const auto& e : j["models"]) {
    if (!e.contains("name") || !e["name"].is_string())
      return invalidArgument(fmt::format("model catalog '{}': an entry has no 'name'", origin));
    auto m = fromJson(e, fmt::format("model catalog '{}' entry '{}'", origin, e["name"].get<std::string>()));
    if (!m) return m.status();
    c.models_.push_back(std::move(*m));
  }
  return c;
}

Result<ModelSpec> ModelCatalog::find(const std::string& name) const {
  const std::string key = normaliseName(name);
  for (const auto& m : models_)
    if (normaliseName(m.name) == key) return m;
  std::string near;
  for (const auto& m : models_) {
    const std::string n = normaliseName(m.name);
    if (n.find(key.substr(0, std::min<size_t>(key.size(), 5))) != std::string::npos)
      near += (near.empty() ? "" : ", ") + m.name;
  }
  return invalidArgument(fmt::format("unknown model '{}'{}; `loom plan --list-models` shows the catalog, or pass a "
                                     "config.json path",
                                     name, near.empty() ? "" : " (did you mean: " + near + "?)"));
}

}  // namespace loom::plan

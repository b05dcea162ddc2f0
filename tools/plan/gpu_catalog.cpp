// GPU and network catalog loading (data/gpus.json).
#include "gpu_catalog.hpp"

#include <fmt/format.h>

#include <cctype>
#include <type_traits>
#include <nlohmann/json.hpp>

#include "model_spec.hpp"

namespace loom::plan {

using nlohmann::json;

std::string normaliseName(const std::string& s) {
  std::string out;
  for (char c : s)
    if (c != '-' && c != '_' && c != ' ' && c != '.') out += char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

double GpuSpec::pcieGBs() const {
  switch (pcieGen) {
    case 3: return 16;
    case 4: return 32;
    case 5: return 64;
    default: return pcieGen >= 6 ? 128 : 8;
  }
}

namespace {

Result<double> num(const json& e, const char* key, const std::string& where, bool positive) {
  auto it = e.find(key);
  if (it == e.end() || !it->is_number()) return invalidArgument(fmt::format("{} is missing number '{}'", where, key));
  double v = it->get<double>();
  if (positive ? !(v > 0) : v < 0)
    return invalidArgument(fmt::format("{}: '{}' must be {} (got {})", where, key, positive ? "positive" : ">= 0", v));
  return v;
}

// Optional fields: the default when absent, an error (not a json exception, not an out-of-range
// cast) when present with the wrong type or range.
template <class T>
Result<T> optField(const json& e, const char* key, T dflt, const std::string& where) {
  auto it = e.find(key);
  if (it == e.end()) return dflt;
  if constexpr (std::is_same_v<T, bool>) {
    if (it->is_boolean()) return it->get<bool>();
    return invalidArgument(fmt::format("{}: '{}' must be true or false", where, key));
  } else {
    if (!it->is_number()) return invalidArgument(fmt::format("{}: '{}' must be a number", where, key));
    double v = it->get<double>();
    if constexpr (std::is_integral_v<T>) {
      if (!(v > -1e9 && v < 1e9)) return invalidArgument(fmt::format("{}: '{}' is out of range (got {})", where, key, v));
    }
    return static_cast<T>(v);
  }
}

std::string str(const json& e, const char* key) {
  auto it = e.find(key);
  return it != e.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Result<GpuCatalog> GpuCatalog::load(const std::string& path) {
  auto text = readFile(path);
  if (!text) return text.status();
  return parse(*text, path);
}

Result<GpuCatalog> GpuCatalog::parse(const std::string& jsonText, const std::string& origin) {
  json j = json::parse(jsonText, nullptr, false);
  if (j.is_discarded()) return invalidArgument(fmt::format("GPU catalog '{}' is not valid JSON", origin));
  if (!j.contains("gpus") || !j["gpus"].is_array())
    return invalidArgument(fmt::format("GPU catalog '{}' has no 'gpus' array", origin));
  GpuCatalog c;
  for (const auto& e : j["gpus"]) {
    GpuSpec g;
    g.name = str(e, "name");
    if (g.name.empty()) return invalidArgument(fmt::format("GPU catalog '{}': an entry has no 'name'", origin));
    const std::string where = fmt::format("GPU catalog '{}' entry '{}'", origin, g.name);
#define LOOM_PLAN_NUM(field, key, positive)          \
  {                                                  \
    auto v = num(e, key, where, positive);           \
    if (!v) return v.status();                       \
    g.field = *v;                                    \
  }
    LOOM_PLAN_NUM(memoryGiB, "memory_gib", true)
    LOOM_PLAN_NUM(memoryBandwidthGBs, "memory_bandwidth_gbs", true)
    LOOM_PLAN_NUM(bf16Tflops, "bf16_tflops", true)
    LOOM_PLAN_NUM(fp16Tflops, "fp16_tflops", true)
    LOOM_PLAN_NUM(fp8Tflops, "fp8_tflops", false)
    LOOM_PLAN_NUM(tf32Tflops, "tf32_tflops", false)
    LOOM_PLAN_NUM(intraGBs, "intra_node_gbs", true)
    LOOM_PLAN_NUM(tdpW, "tdp_w", true)
    LOOM_PLAN_NUM(mfu, "mfu", true)
    LOOM_PLAN_NUM(pricePerHour, "price_per_gpu_hour_usd", false)
#undef LOOM_PLAN_NUM
#define LOOM_PLAN_OPT(field, key, dflt)                                  \
  {                                                                      \
    auto v = optField<decltype(g.field)>(e, key, dflt, where);           \
    if (!v) return v.status();                                           \
    g.field = *v;                                                        \
  }
    LOOM_PLAN_OPT(linkEfficiency, "link_efficiency", 0.8)
    LOOM_PLAN_OPT(pcieGen, "pcie_gen", 4)
    LOOM_PLAN_OPT(maxGpusPerNode, "max_gpus_per_node", 8)
    LOOM_PLAN_OPT(bitsandbytes, "bitsandbytes", true)
    LOOM_PLAN_OPT(defaultNicsPerNode, "default_nics_per_node", 1)
#undef LOOM_PLAN_OPT
    g.vendor = str(e, "vendor");
    g.intraLink = str(e, "intra_node_link");
    g.defaultNetwork = str(e, "default_network");
    g.priceSource = str(e, "price_source");
    g.priceDate = str(e, "price_date");
    g.source = str(e, "source");
    g.note = str(e, "note");
    if (g.mfu > 1) return invalidArgument(fmt::format("{}: 'mfu' must be at most 1 (got {})", where, g.mfu));
    c.gpus_.push_back(std::move(g));
  }
  if (j.contains("networks") && j["networks"].is_array()) {
    for (const auto& e : j["networks"]) {
      NetworkSpec n;
      n.name = str(e, "name");
      const std::string where = fmt::format("GPU catalog '{}' network '{}'", origin, n.name);
      auto gbps = num(e, "gbps", where, true);
      if (!gbps) return gbps.status();
      n.gbps = *gbps;
      n.kind = str(e, "kind");
      auto latency = optField(e, "latency_us", 5.0, where);
      if (!latency) return latency.status();
      auto efficiency = optField(e, "efficiency", 0.85, where);
      if (!efficiency) return efficiency.status();
      n.latencyUs = *latency;
      n.efficiency = *efficiency;
      c.networks_.push_back(std::move(n));
    }
  }
  return c;
}

Result<GpuSpec> GpuCatalog::findGpu(const std::string& name) const {
  const std::string key = normaliseName(name);
  for (const auto& g : gpus_)
    if (normaliseName(g.name) == key) return g;
  std::string all;
  for (const auto& g : gpus_) all += (all.empty() ? "" : ", ") + g.name;
  return invalidArgument(fmt::format("unknown GPU '{}'; known GPUs: {}", name, all));
}

Result<NetworkSpec> GpuCatalog::findNetwork(const std::string& name) const {
  const std::string key = normaliseName(name);
  for (const auto& n : networks_)
    if (normaliseName(n.name) == key) return n;
  std::string all;
  for (const auto& n : networks_) all += (all.empty() ? "" : ", ") + n.name;
  return invalidArgument(fmt::format("unknown network '{}'; known networks: {}", name, all));
}

}  // namespace loom::plan

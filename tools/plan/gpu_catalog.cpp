// GPU and network catalog loading (data/gpus.json).
#include "gpu_catalog.hpp"

#include <fmt/format.h>

#include <cctype>
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
    g.vendor = str(e, "vendor");
    g.intraLink = str(e, "intra_node_link");
    g.linkEfficiency = e.value("link_efficiency", 0.8);
    g.pcieGen = e.value("pcie_gen", 4);
    g.maxGpusPerNode = e.value("max_gpus_per_node", 8);
    g.bitsandbytes = e.value("bitsandbytes", true);
    g.defaultNetwork = str(e, "default_network");
    g.defaultNicsPerNode = e.value("default_nics_per_node", 1);
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
      n.latencyUs = e.value("latency_us", 5.0);
      n.efficiency = e.value("efficiency", 0.85);
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

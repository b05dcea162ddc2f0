// GPUs and networks from data/gpus.json: memory, bandwidth, peak TFLOPS, links, power, price.
#pragma once

#include <string>
#include <vector>

#include "core/status.hpp"

namespace loom::plan {

struct GpuSpec {
  std::string name;
  std::string vendor;
  double memoryGiB = 0;
  double memoryBandwidthGBs = 0;
  double bf16Tflops = 0;
  double fp16Tflops = 0;
  double fp8Tflops = 0;      // 0: no fp8 tensor cores
  double tf32Tflops = 0;     // used for fp32 training; 0: falls back to bf16/8
  std::string intraLink;
  double intraGBs = 0;       // per GPU, per direction, nominal
  double linkEfficiency = 0.8;
  int pcieGen = 4;
  double tdpW = 0;
  int maxGpusPerNode = 8;
  double mfu = 0.4;
  bool bitsandbytes = true;  // QLoRA / 8-bit optimizers available
  std::string defaultNetwork;
  int defaultNicsPerNode = 1;
  double pricePerHour = 0;
  std::string priceSource;
  std::string priceDate;
  std::string source;
  std::string note;

  double pcieGBs() const;    // per direction, nominal, for the host link
};

struct NetworkSpec {
  std::string name;
  std::string kind;
  double gbps = 0;           // per NIC, line rate
  double latencyUs = 0;
  double efficiency = 0.85;
};

class GpuCatalog {
 public:
  static Result<GpuCatalog> load(const std::string& path);
  static Result<GpuCatalog> parse(const std::string& jsonText, const std::string& origin);
  const std::vector<GpuSpec>& gpus() const { return gpus_; }
  const std::vector<NetworkSpec>& networks() const { return networks_; }
  Result<GpuSpec> findGpu(const std::string& name) const;
  Result<NetworkSpec> findNetwork(const std::string& name) const;

 private:
  std::vector<GpuSpec> gpus_;
  std::vector<NetworkSpec> networks_;
};

// Case-insensitive match ignoring '-', '_', ' ' and '.' so "H100 SXM" finds "h100-sxm".
std::string normaliseName(const std::string& s);

}  // namespace loom::plan

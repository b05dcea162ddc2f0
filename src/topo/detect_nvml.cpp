// GPUs and NVLinks through NVML, loaded with dlopen at run time so one binary runs on hosts
// without the NVIDIA driver. Only the few entry points below are declared, with the ABI of
// nvml.h (the structs are stable across driver releases). Any failure means "no GPUs".
#include <dlfcn.h>

#include <map>
#include <mutex>

#include "core/log.hpp"
#include "topo/detect_internal.hpp"

namespace loom::topo::detail {
namespace {

using NvmlReturn = int;  // nvmlReturn_t; NVML_SUCCESS = 0
using NvmlDevice = struct NvmlDeviceOpaque*;
constexpr unsigned kNvlinkMaxLinks = 18;  // NVML_NVLINK_MAX_LINKS

struct NvmlPciInfo {  // nvmlPciInfo_t
  char busIdLegacy[16];
  unsigned domain, bus, device, pciDeviceId, pciSubSystemId;
  char busId[32];
};
struct NvmlMemory {  // nvmlMemory_t
  unsigned long long total, free, used;
};

struct Nvml {
  NvmlReturn (*init)() = nullptr;
  NvmlReturn (*shutdown)() = nullptr;
  NvmlReturn (*count)(unsigned*) = nullptr;
  NvmlReturn (*handle)(unsigned, NvmlDevice*) = nullptr;
  NvmlReturn (*name)(NvmlDevice, char*, unsigned) = nullptr;
  NvmlReturn (*pci)(NvmlDevice, NvmlPciInfo*) = nullptr;
  NvmlReturn (*memory)(NvmlDevice, NvmlMemory*) = nullptr;
  NvmlReturn (*linkState)(NvmlDevice, unsigned, int*) = nullptr;
  NvmlReturn (*linkRemotePci)(NvmlDevice, unsigned, NvmlPciInfo*) = nullptr;
  NvmlReturn (*linkVersion)(NvmlDevice, unsigned, unsigned*) = nullptr;
  bool ok = false;
};

template <typename F>
void bind(void* lib, F* fn, const char* name, const char* fallback = nullptr) {
  void* sym = dlsym(lib, name);
  if (!sym && fallback) sym = dlsym(lib, fallback);
  *fn = reinterpret_cast<F>(sym);
}

// Loaded once per process; the library stays loaded (unloading NVML is not worth the risk).
const Nvml& nvml() {
  static Nvml n;
  static std::once_flag once;
  std::call_once(once, [] {
    void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
    bind(lib, &n.init, "nvmlInit_v2");
    bind(lib, &n.shutdown, "nvmlShutdown");
    bind(lib, &n.count, "nvmlDeviceGetCount_v2");
    bind(lib, &n.handle, "nvmlDeviceGetHandleByIndex_v2");
    bind(lib, &n.name, "nvmlDeviceGetName");
    bind(lib, &n.pci, "nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2");
    bind(lib, &n.memory, "nvmlDeviceGetMemoryInfo");
    bind(lib, &n.linkState, "nvmlDeviceGetNvLinkState");
    bind(lib, &n.linkRemotePci, "nvmlDeviceGetNvLinkRemotePciInfo_v2");
    bind(lib, &n.linkVersion, "nvmlDeviceGetNvLinkVersion");
    n.ok = n.init && n.shutdown && n.count && n.handle && n.name && n.pci && n.memory;
  });
  return n;
}

// Per link and direction, Gbit/s, by NVLink generation (NVLink 2-4: 25 GB/s, 5: 50 GB/s).
double linkGbps(unsigned version) {
  if (version <= 1) return 160;
  if (version <= 4) return 200;
  return 400;
}

}  // namespace

void detectNvmlGpus(const std::string& sysfsRoot, std::vector<Gpu>* gpus) {
  const Nvml& n = nvml();
  if (!n.ok) return;
  if (NvmlReturn r = n.init(); r != 0) {
    LOOM_DEBUG("topology: nvmlInit failed ({}); no GPUs", r);
    return;
  }
  unsigned count = 0;
  std::vector<NvmlDevice> devs;
  if (n.count(&count) == 0) {
    for (unsigned i = 0; i < count; ++i) {
      NvmlDevice d = nullptr;
      if (n.handle(i, &d) != 0) continue;
      Gpu g;
      g.index = static_cast<int>(i);
      char name[96] = {};
      if (n.name(d, name, sizeof(name) - 1) == 0) g.name = name;
      NvmlPciInfo pci{};
      if (n.pci(d, &pci) == 0) g.pciBus = normalizePciBus(pci.busId);
      g.numa = pciNuma(sysfsRoot, g.pciBus);
      NvmlMemory mem{};
      if (n.memory(d, &mem) == 0) g.memBytes = mem.total;
      gpus->push_back(std::move(g));
      devs.push_back(d);
    }
  }
  std::map<std::string, int> byBus;
  for (const Gpu& g : *gpus) byBus[g.pciBus] = g.index;
  for (size_t k = 0; k < gpus->size() && n.linkState && n.linkRemotePci; ++k) {
    std::map<int, NvLink> byPeer;  // peer -> link group, NVSwitch = -1
    for (unsigned l = 0; l < kNvlinkMaxLinks; ++l) {
      int active = 0;
      if (n.linkState(devs[k], l, &active) != 0 || !active) continue;
      NvmlPciInfo remote{};
      if (n.linkRemotePci(devs[k], l, &remote) != 0) continue;
      auto it = byBus.find(normalizePciBus(remote.busId));
      int peer = it == byBus.end() ? -1 : it->second;
      unsigned version = 4;
      if (n.linkVersion) n.linkVersion(devs[k], l, &version);
      NvLink& link = byPeer[peer];
      link.peer = peer;
      ++link.count;
      link.gbpsPerLink = linkGbps(version);
    }
    for (auto& [peer, link] : byPeer) (*gpus)[k].links.push_back(link);
  }
  n.shutdown();
}

}  // namespace loom::topo::detail

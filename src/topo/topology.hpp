// The machine model: a plain value describing each host of a job (CPUs, NUMA, caches, PCI, NICs,
// GPUs) and where each rank sits. Detection fills it, JSON round-trips it (LOOM_TOPO_FILE /
// LOOM_TOPO_DUMP_FILE), and the cost model and planner read it without knowing where it came from.
// Units: bytes for memory and caches, Gbit/s for every link speed (NICs and NVLinks alike).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.hpp"

namespace loom::topo {

constexpr int kTopoVersion = 1;

struct Nic {
  std::string name;    // interface name, e.g. "eth0"
  double gbps = 0;     // link speed in Gbit/s; 0 = unknown (virtual NIC, link down)
  int numa = -1;       // NUMA node of the device; -1 = unknown
  std::string pciBus;  // "0000:00:03.0"; empty when not on PCI
  bool operator==(const Nic&) const = default;
};

struct NvLink {
  int peer = -1;           // GPU index on the same host; -1 = an NVSwitch
  int count = 0;           // links to that peer
  double gbpsPerLink = 0;  // per link and direction, Gbit/s (H100: 25 GB/s = 200 Gbit/s)
  bool operator==(const NvLink&) const = default;
};

struct Gpu {
  int index = 0;  // NVML / CUDA ordinal
  std::string name;
  std::string pciBus;
  int numa = -1;
  uint64_t memBytes = 0;
  std::vector<NvLink> links;
  bool operator==(const Gpu&) const = default;
};

struct Numa {
  int id = 0;
  int socket = -1;        // package holding its CPUs; -1 = unknown
  std::vector<int> cpus;  // PU OS indexes (JSON: a Linux cpulist string "0-31,64-95")
  int cores = 0;          // physical cores among those CPUs
  uint64_t memBytes = 0;
  bool operator==(const Numa&) const = default;
};

struct Cache {
  int level = 0;
  std::string type;  // "data", "instruction" or "unified"
  uint64_t bytes = 0;
  int count = 0;     // instances on the host
  bool operator==(const Cache&) const = default;
};

struct PciDevice {
  std::string bus;           // "0000:17:00.0"
  std::string className;     // "Ethernet", "3D controller", "PCI bridge", ... or "class 0x0180"
  std::string vendorDevice;  // "15b3:1021"
  std::string parentBridge;  // bus of the PCI bridge above it; empty under a host bridge
  std::vector<std::string> osDevices;  // "mlx5_0", "eth0", "nvme0n1", ...
  bool operator==(const PciDevice&) const = default;
};

struct Host {
  std::string hostname;
  std::string hostId;   // ranks with equal hostId are on one host (LOOM_HOST_ID overrides)
  std::string source;   // "basic", "full" or empty (hand written)
  int sockets = 0;
  int cores = 0;
  int pus = 0;          // hardware threads
  uint64_t memBytes = 0;
  std::vector<Numa> numa;
  std::vector<Cache> caches;
  std::vector<PciDevice> pci;  // full detection only
  std::vector<Nic> nics;
  std::vector<Gpu> gpus;
  // NUMA node the detecting process is bound to (-1 = several or unknown). Per process, not per
  // host: assemble() moves it into RankPlace::numa and clears it.
  int callerNuma = -1;
  bool operator==(const Host&) const = default;
};

struct RankPlace {
  int host = 0;       // index into Topology::hosts
  int localRank = 0;  // order of the rank among the ranks of its host
  int numa = -1;
  int nic = -1;       // index into hosts[host].nics; -1 = none
  bool operator==(const RankPlace&) const = default;
};

struct Topology {
  int version = kTopoVersion;
  std::vector<Host> hosts;
  std::vector<RankPlace> ranks;  // may be empty for a machine description without a job
  bool operator==(const Topology&) const = default;
};

// ---- detection (detect*.cpp)
enum class DetectLevel {
  Basic,  // sysfs and sysconf only: CPUs, NUMA, caches, NICs (about a millisecond)
  Full,   // plus hwloc with the PCI tree and GPUs through NVML (tens of milliseconds)
};

struct DetectOptions {
  DetectLevel level = DetectLevel::Basic;
  std::string sysfsRoot = "/sys";  // tests point this at a fake tree
  std::string hostId;              // empty = hostname
  std::string hostname;            // empty = gethostname()
  bool gpus = true;                // Full only: try NVML (absent library or GPUs is not an error)
};

Result<Host> detectHost(const DetectOptions& options);

// ---- job assembly (topology.cpp)
// One host entry per distinct hostId (in order of first rank), ranks[r] placed on its host.
Topology assemble(const std::vector<Host>& perRankHost);
std::vector<int> hostIndexOf(const Topology& topo);  // host index per rank
// LOOM_TOPO_FILE for a job: `file` replaces detection. If it lists ranks, it must list exactly
// hostOfRank.size() of them and is used as is. Otherwise rank r goes on file host hostOfRank[r]
// (the index of its real host, by first appearance), local ranks spread over that host's NUMA nodes
// in blocks, each with its nearest NIC.
Result<Topology> placeJob(const Topology& file, const std::vector<int>& hostOfRank);
// Network bandwidth of all the host's NICs together in GB/s (NIC speeds are Gb/s; 0 if unknown).
double nicGBps(const Host& host);
// All instances of the host's last-level data cache together, in bytes (0 if unknown).
double lastLevelCacheBytes(const Host& host);
// The NIC a rank on `numa` should use: same NUMA node if any, else the fastest; -1 if none.
int nearestNic(const Host& host, int numa);

std::string formatCpuList(const std::vector<int>& cpus);         // {0,1,2,5} -> "0-2,5"
bool parseCpuList(std::string_view text, std::vector<int>* out);  // "0-2,5" -> {0,1,2,5}

// ---- JSON (topo_json.cpp)
std::string toJson(const Topology& topo, int indent = 2);
Result<Topology> fromJson(std::string_view text);
std::string hostToJson(const Host& host, int indent = -1);
Result<Host> hostFromJson(std::string_view text);
// The init exchange: every rank's hostToJson() in rank order -> assemble(); errors name the rank.
Result<Topology> assembleJson(const std::vector<std::string>& perRankHostJson);
Result<Topology> loadFile(const std::string& path);
Status dumpFile(const Topology& topo, const std::string& path);

// ---- text (topo_render.cpp)
std::string renderTree(const Topology& topo);

}  // namespace loom::topo

// Host detection: this machine (both levels), and a fake sysfs tree with two sockets, two NUMA
// nodes and NICs that lack speed information, are virtual, or report -1.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "topo/topology.hpp"

namespace loom::topo {
namespace {

namespace fs = std::filesystem;

bool haveNvml() {
  void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  return lib != nullptr;  // left loaded: detection would load it anyway
}

void checkSane(const Host& h) {
  EXPECT_GE(h.cores, 1);
  EXPECT_GE(h.pus, h.cores);
  EXPECT_GE(h.sockets, 1);
  ASSERT_FALSE(h.numa.empty());
  size_t cpus = 0;
  for (const Numa& n : h.numa) cpus += n.cpus.size();
  EXPECT_EQ(cpus, static_cast<size_t>(h.pus));
  EXPECT_GT(h.memBytes, 0u);
  for (const Nic& n : h.nics) {
    EXPECT_NE(n.name, "lo");
    EXPECT_GE(n.gbps, 0);
  }
  if (!haveNvml()) {
    EXPECT_TRUE(h.gpus.empty());
  }
  // Whatever was detected must survive the init exchange.
  Result<Host> back = hostFromJson(hostToJson(h));
  ASSERT_TRUE(back.isOk()) << back.status().message();
  EXPECT_EQ(back.value(), h);
}

TEST(TopoDetect, ThisHostBasic) {
  DetectOptions o;
  o.hostId = "test-id";
  Result<Host> h = detectHost(o);
  ASSERT_TRUE(h.isOk()) << h.status().message();
  EXPECT_EQ(h->hostId, "test-id");
  EXPECT_EQ(h->source, "basic");
  EXPECT_FALSE(h->hostname.empty());
  EXPECT_EQ(h->pus, static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)));
  EXPECT_TRUE(h->gpus.empty());  // Basic never asks NVML
  EXPECT_TRUE(h->pci.empty());
  checkSane(h.value());
}

TEST(TopoDetect, ThisHostFullAgreesWithBasic) {
  DetectOptions o;
  o.level = DetectLevel::Full;
  Result<Host> full = detectHost(o);
  ASSERT_TRUE(full.isOk()) << full.status().message();
  EXPECT_EQ(full->hostId, full->hostname);
  checkSane(full.value());
  Result<Host> basic = detectHost(DetectOptions{});
  ASSERT_TRUE(basic.isOk());
  EXPECT_EQ(full->cores, basic->cores);
  EXPECT_EQ(full->pus, basic->pus);
  EXPECT_EQ(full->sockets, basic->sockets);
  EXPECT_EQ(full->nics, basic->nics);
  ASSERT_EQ(full->numa.size(), basic->numa.size());
  for (size_t i = 0; i < full->numa.size(); ++i) EXPECT_EQ(full->numa[i].cpus, basic->numa[i].cpus);
  // The PCI tree names the NICs it holds.
  for (const Nic& n : full->nics) {
    if (n.pciBus.empty() || full->source != "full") continue;
    bool found = false;
    for (const PciDevice& d : full->pci)
      if (d.bus == n.pciBus) found = std::find(d.osDevices.begin(), d.osDevices.end(), n.name) != d.osDevices.end();
    EXPECT_TRUE(found) << n.name << " at " << n.pciBus;
  }
}

TEST(TopoDetect, ConcurrentDetection) {
  // Ranks as threads detect at once (TSan checks the NVML loader and hwloc use).
  std::vector<Host> got(4);
  {
    std::vector<std::jthread> threads;
    for (int i = 0; i < 4; ++i)
      threads.emplace_back([&, i] {
        DetectOptions o;
        o.level = i % 2 ? DetectLevel::Full : DetectLevel::Basic;
        o.hostId = "x";
        Result<Host> h = detectHost(o);
        if (h.isOk()) got[i] = h.value();
      });
  }
  for (int i = 0; i < 4; ++i) EXPECT_EQ(got[i].pus, got[0].pus) << i;
  EXPECT_EQ(got[1], got[3]);
  EXPECT_EQ(got[0], got[2]);
}

// A fake /sys: cpus 0-3 in two packages (two cores each, no SMT), nodes 0 {0,1} and 1 {2,3},
// an L1d per core and an L3 per package; NICs eth0 (25 Gb/s, numa 1, PCI), eth1 (no speed file,
// no numa_node), eth2 (speed -1: link down), ib0 (unreadable speed text), lo and veth0 (virtual).
class FakeSysfs : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("loom_fake_sysfs_" + std::to_string(getpid()));
    fs::remove_all(root_);
    for (int c = 0; c < 4; ++c) {
      fs::path cpu = root_ / "devices/system/cpu" / ("cpu" + std::to_string(c));
      put(cpu / "topology/physical_package_id", std::to_string(c / 2));
      put(cpu / "topology/thread_siblings_list", std::to_string(c));
      put(cpu / "cache/index0/level", "1");
      put(cpu / "cache/index0/type", "Data");
      put(cpu / "cache/index0/size", "48K");
      put(cpu / "cache/index0/shared_cpu_list", std::to_string(c));
      put(cpu / "cache/index3/level", "3");
      put(cpu / "cache/index3/type", "Unified");
      put(cpu / "cache/index3/size", "16384K");
      put(cpu / "cache/index3/shared_cpu_list", c < 2 ? "0-1" : "2-3");
    }
    put(root_ / "devices/system/cpu/online", "0-3");
    put(root_ / "devices/system/node/node0/cpulist", "0-1");
    put(root_ / "devices/system/node/node0/meminfo", "Node 0 MemTotal:        2048 kB\nNode 0 MemFree: 1 kB\n");
    put(root_ / "devices/system/node/node1/cpulist", "2-3");
    put(root_ / "devices/system/node/node1/meminfo", "Node 1 MemTotal:        1024 kB\n");
    put(root_ / "devices/system/node/possible", "0-1");  // not a node directory

    fs::path pciDev = root_ / "devices/pci0000:00/0000:00:03.0";
    put(pciDev / "numa_node", "1");
    fs::create_directories(root_ / "class/net/eth0");
    fs::create_directory_symlink(pciDev, root_ / "class/net/eth0/device");
    put(root_ / "class/net/eth0/speed", "25000");
    fs::create_directories(root_ / "class/net/eth1/device");
    put(root_ / "class/net/eth2/speed", "-1");
    fs::create_directories(root_ / "class/net/eth2/device");
    put(root_ / "class/net/ib0/speed", "unknown");
    put(root_ / "class/net/ib0/device/numa_node", "-1");
    put(root_ / "class/net/lo/speed", "0");
    put(root_ / "class/net/veth0/speed", "10000");
  }
  void TearDown() override { fs::remove_all(root_); }
  static void put(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text << "\n";
  }
  fs::path root_;
};

TEST_F(FakeSysfs, BasicReadsTheTree) {
  DetectOptions o;
  o.sysfsRoot = root_.string();
  o.hostname = "fake";
  Result<Host> h = detectHost(o);
  ASSERT_TRUE(h.isOk()) << h.status().message();
  EXPECT_EQ(h->hostname, "fake");
  EXPECT_EQ(h->hostId, "fake");
  EXPECT_EQ(h->sockets, 2);
  EXPECT_EQ(h->cores, 4);
  EXPECT_EQ(h->pus, 4);
  EXPECT_EQ(h->memBytes, 3072u * 1024);
  ASSERT_EQ(h->numa.size(), 2u);
  EXPECT_EQ(h->numa[0], (Numa{0, 0, {0, 1}, 2, 2048u * 1024}));
  EXPECT_EQ(h->numa[1], (Numa{1, 1, {2, 3}, 2, 1024u * 1024}));
  ASSERT_EQ(h->caches.size(), 2u);
  EXPECT_EQ(h->caches[0], (Cache{1, "data", 48u << 10, 4}));
  EXPECT_EQ(h->caches[1], (Cache{3, "unified", 16u << 20, 2}));
  ASSERT_EQ(h->nics.size(), 4u);
  EXPECT_EQ(h->nics[0], (Nic{"eth0", 25, 1, "0000:00:03.0"}));
  EXPECT_EQ(h->nics[1], (Nic{"eth1", 0, -1, ""}));
  EXPECT_EQ(h->nics[2], (Nic{"eth2", 0, -1, ""}));
  EXPECT_EQ(h->nics[3], (Nic{"ib0", 0, -1, ""}));
  EXPECT_TRUE(h->gpus.empty());
  // The fake has CPUs 0-3 only; this process runs on real CPUs, so its node is any of them.
  EXPECT_GE(h->callerNuma, -1);
  EXPECT_LE(h->callerNuma, 1);
  // Ranks on node 1 get eth0 (same node); elsewhere the fastest, eth0 too.
  Host a = h.value(), b = h.value();
  a.callerNuma = 1;
  b.callerNuma = 0;
  Topology t = assemble({a, b});
  EXPECT_EQ(t.ranks[0].nic, 0);
  EXPECT_EQ(t.ranks[1].nic, 0);
  EXPECT_EQ(t.ranks[1].numa, 0);
  std::string tree = renderTree(t);
  EXPECT_NE(tree.find("nic 1 eth1: speed unknown, numa ?"), std::string::npos) << tree;
  EXPECT_NE(tree.find("nic 0 eth0: 25 Gb/s, numa 1, pci 0000:00:03.0"), std::string::npos) << tree;
  EXPECT_NE(tree.find("socket 1\n    numa 1: cpus 2-3, 2 cores, 1 MiB"), std::string::npos) << tree;
}

TEST_F(FakeSysfs, FullUsesTheFakeNics) {
  DetectOptions o;
  o.sysfsRoot = root_.string();
  o.level = DetectLevel::Full;
  Result<Host> h = detectHost(o);
  ASSERT_TRUE(h.isOk()) << h.status().message();
  ASSERT_EQ(h->nics.size(), 4u);
  EXPECT_EQ(h->nics[1].gbps, 0);
  EXPECT_GE(h->cores, 1);  // CPUs come from hwloc: the real machine
}

TEST_F(FakeSysfs, EmptyTreeFallsBackToSysconf) {
  fs::path empty = root_ / "empty";
  fs::create_directories(empty);
  DetectOptions o;
  o.sysfsRoot = empty.string();
  Result<Host> h = detectHost(o);
  ASSERT_TRUE(h.isOk()) << h.status().message();
  EXPECT_EQ(h->pus, static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)));
  ASSERT_EQ(h->numa.size(), 1u);
  EXPECT_EQ(h->callerNuma, 0);
  EXPECT_GT(h->memBytes, 0u);
  EXPECT_TRUE(h->nics.empty());
}

TEST(TopoDetect, BasicIsCheap) {
  // Init budget: detection plus the exchange under 50 ms for 8 local ranks on 2 cores. Basic
  // takes ~1 ms; allow a wide margin for sanitizers and a loaded machine.
  DetectOptions o;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(detectHost(o).isOk());
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / 5;
  EXPECT_LT(ms, 100.0);
  RecordProperty("basic_ms", std::to_string(ms));
}

}  // namespace
}  // namespace loom::topo

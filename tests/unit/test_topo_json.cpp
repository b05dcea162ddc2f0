// Topology JSON: the shipped data files round-trip byte for byte, malformed input is rejected with
// the failing field named, and assemble() places interleaved ranks on their hosts.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "topo/topology.hpp"

namespace loom::topo {
namespace {

namespace fs = std::filesystem;

fs::path dataDir() { return fs::path(__FILE__).parent_path() / ".." / ".." / "data" / "topologies"; }

std::string readAll(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(TopoJson, DataFilesRoundTrip) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dataDir()))
    if (e.path().extension() == ".json") names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  ASSERT_EQ(names, (std::vector<std::string>{"cluster-4host.json", "cpu-2socket.json", "dgx-h100.json", "vm-2core.json"}));
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    std::string text = readAll(dataDir() / name);
    Result<Topology> a = loadFile((dataDir() / name).string());
    ASSERT_TRUE(a.isOk()) << a.status().message();
    std::string dumped = toJson(a.value(), 2);
    EXPECT_EQ(dumped, text);  // files are kept in the canonical dump form
    Result<Topology> b = fromJson(dumped);
    ASSERT_TRUE(b.isOk()) << b.status().message();
    EXPECT_EQ(a.value(), b.value());
    EXPECT_EQ(toJson(b.value(), 2), dumped);
    EXPECT_EQ(toJson(b.value(), -1), toJson(a.value(), -1));
  }
}

TEST(TopoJson, DataFileContents) {
  Result<Topology> dgx = loadFile((dataDir() / "dgx-h100.json").string());
  ASSERT_TRUE(dgx.isOk());
  const Host& h = dgx->hosts.at(0);
  EXPECT_EQ(h.sockets, 2);
  ASSERT_EQ(h.gpus.size(), 8u);
  ASSERT_EQ(h.nics.size(), 8u);
  for (const Gpu& g : h.gpus) {
    ASSERT_EQ(g.links.size(), 1u);
    EXPECT_EQ(g.links[0], (NvLink{-1, 18, 200}));
  }
  for (const Nic& n : h.nics) EXPECT_EQ(n.gbps, 400);
  std::string tree = renderTree(dgx.value());
  EXPECT_NE(tree.find("nvlink x18 -> nvswitch (200 Gb/s each, 450 GB/s total)"), std::string::npos) << tree;

  Result<Topology> cluster = loadFile((dataDir() / "cluster-4host.json").string());
  ASSERT_TRUE(cluster.isOk());
  ASSERT_EQ(cluster->hosts.size(), 4u);
  ASSERT_EQ(cluster->ranks.size(), 32u);
  std::vector<int> hostOf = hostIndexOf(cluster.value());
  for (int r = 0; r < 32; ++r) {
    EXPECT_EQ(hostOf[r], r / 8);
    EXPECT_EQ(cluster->ranks[r].localRank, r % 8);
    EXPECT_EQ(cluster->ranks[r].nic, nearestNic(cluster->hosts[r / 8], cluster->ranks[r].numa));
  }
  EXPECT_NE(renderTree(cluster.value()).find("rank 31 (local 7): numa 1, nic ens2f0"), std::string::npos);

  Result<Topology> cpu = loadFile((dataDir() / "cpu-2socket.json").string());
  ASSERT_TRUE(cpu.isOk());
  EXPECT_EQ(cpu->hosts.at(0).numa.at(1).cpus.size(), 64u);
  EXPECT_EQ(cpu->hosts.at(0).numa.at(1).cpus.front(), 32);
}

// A small valid file the malformed cases below each break in one place.
std::string baseText() {
  return R"({"version": 1, "hosts": [{"hostname": "a", "cores": 4,
    "numa": [{"id": 0, "cpus": "0-3"}],
    "nics": [{"name": "eth0", "gbps": 10}, {"name": "eth1", "gbps": 25}],
    "gpus": [{"index": 0, "links": [{"peer": 1, "count": 4, "gbpsPerLink": 200}]},
             {"index": 1, "links": [{"peer": 0, "count": 4, "gbpsPerLink": 200}]}]}],
    "ranks": [{"host": 0, "localRank": 0}, {"host": 0, "localRank": 1}, {"host": 0, "localRank": 2},
              {"host": 0, "localRank": 3, "nic": 1}]})";
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

TEST(TopoJson, BaseLoadsWithDefaults) {
  Result<Topology> t = fromJson(baseText());
  ASSERT_TRUE(t.isOk()) << t.status().message();
  const Host& h = t->hosts.at(0);
  EXPECT_EQ(h.hostId, "a");  // defaults to the hostname
  EXPECT_EQ(h.nics[1].numa, -1);
  EXPECT_EQ(h.numa[0].cpus, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(t->ranks[3].nic, 1);
  EXPECT_EQ(t->ranks[0].nic, -1);
}

TEST(TopoJson, MalformedNamesTheField) {
  struct Case {
    std::string from, to, message;
  };
  const std::vector<Case> cases = {
      {R"("gbps": 25)", R"("gbps": "fast")", R"(hosts[0].nics[1].gbps: expected a number, got "fast")"},
      {R"("version": 1)", R"("version": 2)", "version: unsupported version 2 (this build reads version 1)"},
      {R"("version": 1)", R"("version": "1")", R"(version: expected an integer, got "1")"},
      {R"({"host": 0, "localRank": 3)", R"({"host": 5, "localRank": 3)", "ranks[3].host: 5 out of range (1 hosts)"},
      {R"("nic": 1)", R"("nic": 2)", "ranks[3].nic: 2 out of range (host 0 has 2 NICs)"},
      {R"("localRank": 2)", R"("localRank": 1)", "ranks[2].localRank: 1 repeats ranks[1] on host 0"},
      {R"("cpus": "0-3")", R"("cpus": "0-x")", R"(hosts[0].numa[0].cpus: bad cpu list "0-x")"},
      {R"("peer": 0)", R"("peer": 9)", "hosts[0].gpus[1].links[0].peer: no GPU with index 9 on this host"},
      {R"("hostname": "a")", R"("hostname": 5)", "hosts[0].hostname: expected a string, got 5"},
      {R"("hostname": "a", )", "", "hosts[0].hostname: missing"},
      {R"("gbps": 25)", R"("gbps": 1e99999)", "JSON syntax: number overflow parsing"},
      {R"("cores": 4)", R"("cores": -4)", "hosts[0].cores: expected an integer >= 0, got -4"},
      {R"("nics": [)", R"("nics": {"x": 1}, "old": [)", R"(hosts[0].nics: expected an array, got {"x":1})"},
      {R"("count": 4)", R"("count": 0)", "hosts[0].gpus[0].links[0].count: expected an integer >= 1, got 0"},
      {R"("hosts": [)", R"("hostz": [)", "hosts: missing"},
      {R"({"name": "eth0")", R"(7, {"name": "eth0")", "hosts[0].nics[0]: expected an object, got 7"},
      {R"("version": 1,)", R"("version": 1,,)", "JSON syntax: "},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    Result<Topology> t = fromJson(replaced(baseText(), c.from, c.to));
    ASSERT_FALSE(t.isOk());
    EXPECT_EQ(t.status().code(), loomInvalidArgument);
    EXPECT_NE(t.status().message().find(c.message), std::string::npos) << t.status().message();
  }
  Result<Topology> root = fromJson("[1, 2]");
  ASSERT_FALSE(root.isOk());
  EXPECT_EQ(root.status().message(), "(top level): expected an object, got [1,2]");
}

TEST(TopoJson, UnknownKeysIgnored) {
  std::string text = replaced(baseText(), R"("version": 1)", R"("version": 1, "future": {"a": [1]})");
  text = replaced(text, R"("name": "eth0")", R"("name": "eth0", "rdma": true)");
  Result<Topology> t = fromJson(text);
  ASSERT_TRUE(t.isOk()) << t.status().message();
  EXPECT_EQ(t.value(), fromJson(baseText()).value());
}

TEST(TopoJson, LoadFileErrorsNameThePath) {
  Result<Topology> missing = loadFile("/nonexistent/topo.json");
  ASSERT_FALSE(missing.isOk());
  EXPECT_EQ(missing.status().code(), loomSystemError);
  EXPECT_NE(missing.status().message().find("/nonexistent/topo.json"), std::string::npos);

  fs::path p = fs::temp_directory_path() / ("loom_topo_" + std::to_string(getpid()) + ".json");
  Topology t = fromJson(baseText()).value();
  ASSERT_TRUE(dumpFile(t, p.string()).isOk());
  Result<Topology> back = loadFile(p.string());
  ASSERT_TRUE(back.isOk());
  EXPECT_EQ(back.value(), t);
  std::ofstream(p) << R"({"version": 1, "hosts": [{"hostname": "a", "nics": [{"name": "e", "gbps": -1}]}]})";
  Result<Topology> bad = loadFile(p.string());
  ASSERT_FALSE(bad.isOk());
  EXPECT_EQ(bad.status().message(), p.string() + ": hosts[0].nics[0].gbps: expected a number >= 0, got -1");
  fs::remove(p);
}

TEST(TopoJson, HostRoundTripKeepsCallerNuma) {
  Host h = fromJson(baseText())->hosts[0];
  h.callerNuma = 1;
  h.pci.push_back({"0000:17:00.0", "Ethernet", "15b3:101b", "0000:16:01.0", {"ens1f0", "mlx5_0"}});
  h.nics[0].gbps = 2.5;
  std::string text = hostToJson(h);
  EXPECT_EQ(text.find('\n'), std::string::npos);  // compact by default: one exchange message
  Result<Host> back = hostFromJson(text);
  ASSERT_TRUE(back.isOk()) << back.status().message();
  EXPECT_EQ(back.value(), h);
  Result<Host> bad = hostFromJson(R"({"hostname": "x", "numa": [{"memBytes": -1}]})");
  ASSERT_FALSE(bad.isOk());
  EXPECT_EQ(bad.status().message(), "numa[0].memBytes: expected a byte count (integer >= 0), got -1");
}

TEST(TopoJson, CpuLists) {
  std::vector<int> cpus;
  ASSERT_TRUE(parseCpuList("0-2,5,7-8\n", &cpus));
  EXPECT_EQ(cpus, (std::vector<int>{0, 1, 2, 5, 7, 8}));
  EXPECT_EQ(formatCpuList(cpus), "0-2,5,7-8");
  ASSERT_TRUE(parseCpuList("", &cpus));
  EXPECT_TRUE(cpus.empty());
  EXPECT_EQ(formatCpuList({}), "");
  for (const char* bad : {"x", "1-", "3-1", "1,1", "2,1", "1,,2", "-1", "0-99999999"})
    EXPECT_FALSE(parseCpuList(bad, &cpus)) << bad;
}

Host fakeHost(const std::string& id, int callerNuma) {
  Host h;
  h.hostname = "h-" + id;
  h.hostId = id;
  h.callerNuma = callerNuma;
  h.nics = {{"slow0", 10, 0, ""}, {"fast1", 100, 1, ""}, {"fast2", 100, -1, ""}};
  return h;
}

TEST(TopoAssemble, InterleavedHosts) {
  // Ranks 0..8 on hosts A B C A B C A A C (round-robin launch, then a tail).
  const std::string order = "ABCABCAAC";
  const std::vector<int> numa = {0, 1, -1, 1, 0, 0, 2, -1, 1};
  std::vector<Host> perRank;
  for (size_t r = 0; r < order.size(); ++r) perRank.push_back(fakeHost(std::string(1, order[r]), numa[r]));
  Topology t = assemble(perRank);
  ASSERT_EQ(t.hosts.size(), 3u);
  EXPECT_EQ(t.hosts[0].hostId, "A");
  EXPECT_EQ(t.hosts[1].hostId, "B");
  EXPECT_EQ(t.hosts[2].hostId, "C");
  for (const Host& h : t.hosts) EXPECT_EQ(h.callerNuma, -1);
  EXPECT_EQ(hostIndexOf(t), (std::vector<int>{0, 1, 2, 0, 1, 2, 0, 0, 2}));
  std::vector<int> local;
  for (const RankPlace& p : t.ranks) local.push_back(p.localRank);
  EXPECT_EQ(local, (std::vector<int>{0, 0, 0, 1, 1, 1, 2, 3, 2}));
  // Same NUMA node if possible, else the fastest (first of equals): numa 0 -> slow0, 1 -> fast1,
  // unknown or a node without a NIC -> fast1.
  std::vector<int> nic;
  for (const RankPlace& p : t.ranks) nic.push_back(p.nic);
  EXPECT_EQ(nic, (std::vector<int>{0, 1, 1, 1, 0, 0, 1, 1, 1}));
  EXPECT_EQ(t.ranks[6].numa, 2);
  // The assembled job survives a round trip.
  Result<Topology> back = fromJson(toJson(t, 2));
  ASSERT_TRUE(back.isOk()) << back.status().message();
  EXPECT_EQ(back.value(), t);
  // Empty hostId falls back to the hostname.
  Host anon = fakeHost("", -1);
  Topology one = assemble({anon, anon});
  ASSERT_EQ(one.hosts.size(), 1u);
  EXPECT_EQ(one.hosts[0].hostId, "h-");
  EXPECT_EQ(one.ranks[1].localRank, 1);
  EXPECT_EQ(nearestNic(Host{}, 0), -1);
}

TEST(TopoAssemble, FromExchangedJson) {
  std::vector<std::string> msgs = {hostToJson(fakeHost("A", 0)), hostToJson(fakeHost("B", 1)),
                                   hostToJson(fakeHost("A", 1))};
  Result<Topology> t = assembleJson(msgs);
  ASSERT_TRUE(t.isOk()) << t.status().message();
  EXPECT_EQ(t.value(), assemble({fakeHost("A", 0), fakeHost("B", 1), fakeHost("A", 1)}));
  EXPECT_EQ(hostIndexOf(t.value()), (std::vector<int>{0, 1, 0}));
  msgs[2] = R"({"hostname": "c", "pus": "many"})";
  Result<Topology> bad = assembleJson(msgs);
  ASSERT_FALSE(bad.isOk());
  EXPECT_EQ(bad.status().message(), R"(host description from rank 2: pus: expected an integer, got "many")");
}

TEST(TopoAssemble, PlaceJobFromFile) {
  Topology cpu = loadFile((dataDir() / "cpu-2socket.json").string()).value();
  // 8 ranks on one real host: block placement over the two NUMA nodes, NIC of the same node.
  Result<Topology> t = placeJob(cpu, std::vector<int>(8, 0));
  ASSERT_TRUE(t.isOk()) << t.status().message();
  ASSERT_EQ(t->ranks.size(), 8u);
  for (int r = 0; r < 8; ++r) EXPECT_EQ(t->ranks[r], (RankPlace{0, r, r / 4, r / 4})) << r;
  Result<Topology> two = placeJob(cpu, {0, 1});
  ASSERT_FALSE(two.isOk());
  EXPECT_EQ(two.status().message(), "rank 1 runs on host 1 of the job, but the topology file describes 1 host(s)");
  Topology cluster = loadFile((dataDir() / "cluster-4host.json").string()).value();
  Result<Topology> same = placeJob(cluster, std::vector<int>(32, 0));  // ranks listed: used as is
  ASSERT_TRUE(same.isOk());
  EXPECT_EQ(same.value(), cluster);
  Result<Topology> wrong = placeJob(cluster, std::vector<int>(4, 0));
  ASSERT_FALSE(wrong.isOk());
  EXPECT_EQ(wrong.status().message(), "topology file places 32 ranks, the job has 4");
}

}  // namespace
}  // namespace loom::topo

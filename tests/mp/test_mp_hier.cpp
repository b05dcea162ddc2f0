// Hierarchical algorithms end to end: ranks of one machine split into 'hosts' with LOOM_HOST_ID
// (shm inside a host, tcp across), LOOM_ALGO=hier, every reducing op and type checked
// element-wise by mp_collectives; and LOOM_TOPO_FILE grouping ranks the transports see as one host.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "subprocess.hpp"

namespace {

// Rank r gets LOOM_HOST_ID=h<hostExpr> through a shell that loomrun starts per rank.
loomtest::ProcResult runHier(int n, const std::string& hostExpr, std::vector<std::string> env) {
  std::vector<std::string> argv = {LOOMRUN, "-n", std::to_string(n), "--tag-output", "--", "/bin/sh", "-c",
                                   "LOOM_HOST_ID=h$((" + hostExpr + ")) exec \"$0\" \"$@\"", MP_COLLECTIVES,
                                   "--colls", "allreduce,allgather,reducescatter,broadcast", "--counts", "0,1,7,1023,70001",
                                   "--types", "int32,float,bfloat16"};
  env.push_back("LOOM_TIMEOUT=60");
  return loomtest::runProcess(argv, env, 300);
}

struct Mapping {
  const char* name;
  int n;
  const char* hostExpr;  // of $LOOM_RANK
};

class Hier : public ::testing::TestWithParam<Mapping> {};

TEST_P(Hier, MatchesReference) {
  const Mapping m = GetParam();
  auto r = runHier(m.n, m.hostExpr, {"LOOM_ALGO=hier"});
  EXPECT_FALSE(r.timedOut);
  EXPECT_EQ(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("0 wrong"), std::string::npos) << r.output;
}

INSTANTIATE_TEST_SUITE_P(Mappings, Hier,
                         ::testing::Values(Mapping{"two_by_two", 4, "LOOM_RANK / 2"},         // rail form
                                           Mapping{"interleaved", 4, "LOOM_RANK % 2"},        // rail, hosts interleaved
                                           Mapping{"uneven", 5, "LOOM_RANK < 3 ? 0 : 1"},     // leader form
                                           Mapping{"one_per_host", 3, "LOOM_RANK"}),          // flat across hosts
                         [](const auto& info) { return std::string(info.param.name); });

// With the automatic choice (whatever the model picks on loopback) results stay correct.
TEST(HierAuto, TwoHostsAutomaticSelection) {
  auto r = runHier(4, "LOOM_RANK / 2", {});
  EXPECT_FALSE(r.timedOut);
  EXPECT_EQ(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("0 wrong"), std::string::npos) << r.output;
}

// A topology file that puts ranks {0,1} and {2,3} on two hosts while the transports see one host:
// hier groups by the file, and every rank agrees.
TEST(HierTopoFile, FileGroupsRanks) {
  const std::string path = testing::TempDir() + "loom-two-hosts.json";
  std::ofstream(path) << R"({"version": 1,
    "hosts": [{"hostname": "a", "hostId": "a", "cores": 2}, {"hostname": "b", "hostId": "b", "cores": 2}],
    "ranks": [{"host": 0, "localRank": 0}, {"host": 0, "localRank": 1},
              {"host": 1, "localRank": 0}, {"host": 1, "localRank": 1}]})";
  auto r = runHier(4, "0", {"LOOM_ALGO=hier", "LOOM_TOPO_FILE=" + path});
  EXPECT_FALSE(r.timedOut);
  EXPECT_EQ(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("0 wrong"), std::string::npos) << r.output;
  std::remove(path.c_str());
}

TEST(HierTopoFile, MalformedFileFailsInitNamingTheField) {
  const std::string path = testing::TempDir() + "loom-bad-topo.json";
  std::ofstream(path) << R"({"version": 1, "hosts": [{"hostname": "a", "cores": "many"}]})";
  auto r = runHier(2, "0", {"LOOM_TOPO_FILE=" + path});
  EXPECT_FALSE(r.timedOut);
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.output.find("hosts[0].cores"), std::string::npos) << r.output;
  std::remove(path.c_str());
}

}  // namespace

// Every collective x type x op x in/out of place for 1..8 ranks over shm and tcp, checked
// element-wise by each rank (mp_collectives), plus 64 MiB passes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "subprocess.hpp"

namespace {

// LOOM_SHM_CMA_BYTES in the test's environment asks for single-copy messages: the fabrics then
// log how many they sent and read at teardown (LOOM_DEBUG=DEBUG).
bool checkingSingleCopy() { return std::getenv("LOOM_SHM_CMA_BYTES") != nullptr; }

loomtest::ProcResult runRanks(int n, const std::string& transport, std::vector<std::string> args, double timeout,
                              std::vector<std::string> env = {}) {
  std::vector<std::string> argv = {LOOMRUN, "-n", std::to_string(n), "--tag-output", "--", MP_COLLECTIVES};
  argv.insert(argv.end(), args.begin(), args.end());
  env.push_back("LOOM_TRANSPORT=" + transport);
  env.push_back("LOOM_TIMEOUT=60");
  if (checkingSingleCopy()) env.push_back("LOOM_DEBUG=DEBUG");
  return loomtest::runProcess(argv, env, timeout);
}

// Sums the numbers that follow `key` in the fabrics' teardown lines in `out` (LOOM_DEBUG=DEBUG):
// "board calls N", "single-copy messages sent N, single-copy messages read M".
long sumAfter(const std::string& out, const std::string& key) {
  long sum = 0;
  for (size_t at = out.find(key); at != std::string::npos; at = out.find(key, at + 1))
    sum += std::stol(out.substr(at + key.size()));
  return sum;
}
long boardCalls(const std::string& out) { return sumAfter(out, "board calls "); }

class Collectives : public ::testing::TestWithParam<std::tuple<int, std::string>> {};

TEST_P(Collectives, EveryTypeOpAndCollectiveMatchesReference) {
  auto [n, transport] = GetParam();
  // MP_QUICK (the sanitizer builds): fewer sizes and types, every collective and op still.
  std::vector<std::string> args = {"--counts", "0,1,7,1023,4099"};
  if (std::getenv("MP_QUICK")) args = {"--counts", "0,7,1023", "--types", "int8,half,bfloat16,float,f8e4m3"};
  auto r = runRanks(n, transport, args, 600);
  EXPECT_FALSE(r.timedOut);
  EXPECT_EQ(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("0 wrong"), std::string::npos) << r.output;
  if (checkingSingleCopy() && transport == "shm" && n > 1) {
    if (r.output.find("no single-copy reads from rank") != std::string::npos)
      GTEST_SKIP() << "this OS forbids process_vm_readv between the ranks; the ring carried everything";
    const long sent = sumAfter(r.output, "single-copy messages sent ");
    const long read = sumAfter(r.output, "single-copy messages read ");
    EXPECT_GT(sent, 0) << "no message went single copy";
    EXPECT_EQ(sent, read) << "every single-copy send completes only once its receiver read it";
  }
}

INSTANTIATE_TEST_SUITE_P(Ranks, Collectives,
                         ::testing::Combine(::testing::Values(1, 2, 3, 4, 5, 6, 7, 8),
                                            ::testing::Values(std::string("shm"), std::string("tcp"))),
                         [](const auto& info) {
                           return std::get<1>(info.param) + "_" + std::to_string(std::get<0>(info.param));
                         });

class Board : public ::testing::TestWithParam<int> {};

// LOOM_ALGO=board: every collective the board implements runs there wherever its input fits an
// entry (4 KiB here, so 1023 floats do not for alltoall on 2+ ranks and fall back to the model's
// pick), every type and op, in and out of place, checked element-wise.
TEST_P(Board, EveryTypeOpAndCollectiveMatchesReference) {
  const int n = GetParam();
  std::vector<std::string> args = {"--counts", "0,1,7,100,1023", "--colls",
                                   "allreduce,reduce,broadcast,allgather,reducescatter,alltoall"};
  if (std::getenv("MP_QUICK")) args.insert(args.end(), {"--types", "int8,half,bfloat16,float,f8e4m3,int64"});
  auto r = runRanks(n, "shm", args, 600,
                    {"LOOM_ALGO=board", "LOOM_SHM_BOARD_BYTES=4K", "LOOM_SHM_BOARD_DEPTH=4", "LOOM_DEBUG=DEBUG"});
  EXPECT_FALSE(r.timedOut);
  EXPECT_EQ(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("0 wrong"), std::string::npos) << r.output;
  EXPECT_GT(boardCalls(r.output), 0) << "nothing ran on the board:\n" << r.output;
}

INSTANTIATE_TEST_SUITE_P(Ranks, Board, ::testing::Values(2, 3, 5));

// Over tcp there is no board: forcing it runs what the model picks instead.
TEST(BoardForced, OverTcpFallsBack) {
  auto r = runRanks(3, "tcp", {"--counts", "1,100", "--types", "float,int32", "--colls", "allreduce,broadcast"}, 120,
                    {"LOOM_ALGO=board", "LOOM_DEBUG=DEBUG"});
  EXPECT_FALSE(r.timedOut);
  EXPECT_EQ(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("0 wrong"), std::string::npos) << r.output;
  EXPECT_EQ(boardCalls(r.output), 0) << r.output;
}

class Large : public ::testing::TestWithParam<std::tuple<int, std::string>> {};

// Chunked pipelines over many chunks: 64 MiB float32, in and out of place, and a larger count
// that is not a multiple of the chunk or the rank count.
TEST_P(Large, SixtyFourMebibytes) {
  auto [n, transport] = GetParam();
  auto r = runRanks(n, transport,
                    {"--types", "float,bfloat16", "--colls", "allreduce,reducescatter,allgather", "--counts", "300007",
                     "--big", std::to_string(64 << 20)},
                    300);
  EXPECT_FALSE(r.timedOut);
  EXPECT_EQ(r.exitCode, 0) << r.output;
}

INSTANTIATE_TEST_SUITE_P(Ranks, Large,
                         ::testing::Combine(::testing::Values(2, 4),
                                            ::testing::Values(std::string("shm"), std::string("tcp"))),
                         [](const auto& info) {
                           return std::get<1>(info.param) + "_" + std::to_string(std::get<0>(info.param));
                         });

}  // namespace

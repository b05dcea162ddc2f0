// A rank dies or stops during an all-reduce loop: the survivors get an error within the
// detection bound (LOOM_FAILURE_DETECT), shrink around it, and carry on with correct results.
#include <gtest/gtest.h>
#include <signal.h>

#include <string>
#include <thread>

#include "subprocess.hpp"

namespace {

struct Case {
  std::string transport, how;
  std::string algo = "";  // LOOM_ALGO
};

class Survive : public ::testing::TestWithParam<Case> {};

TEST_P(Survive, SurvivorsDetectShrinkAndContinue) {
  const auto& c = GetParam();
  const int n = 4, victim = 2;
  std::string port = std::to_string(20000 + getpid() % 20000);
  std::vector<loomtest::ProcResult> res(n);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      res[r] = loomtest::runProcess(
          {MP_MISC, "survive", std::to_string(victim), c.how},
          {"RANK=" + std::to_string(r), "WORLD_SIZE=4", "LOCAL_RANK=" + std::to_string(r),
           "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + port, "LOOM_TRANSPORT=" + c.transport, "LOOM_FAILURE_DETECT=2",
           "LOOM_TIMEOUT=4", "LOOM_ALGO=" + c.algo},
          r == victim ? 12 : 30);
    });
  for (auto& t : threads) t.join();
  bool stoppedShm = c.how == "stop" && c.transport == "shm";
  int namedVictim = 0;
  for (int r = 0; r < n; ++r) {
    if (r == victim) {
      EXPECT_EQ(res[r].exitCode, c.how == "kill" ? 128 + SIGKILL : 124) << res[r].output;
      continue;
    }
    EXPECT_FALSE(res[r].timedOut) << res[r].output;
    if (stoppedShm) {
      // A stopped process is alive: shm has no heartbeat, so LOOM_TIMEOUT reports it. Every
      // survivor names it, not only its neighbours: its diagnostics port does not answer.
      EXPECT_EQ(res[r].exitCode, 5) << res[r].output;
      EXPECT_NE(res[r].output.find("timeout"), std::string::npos) << res[r].output;
      EXPECT_NE(res[r].output.find("(stopped, hung or unreachable): rank 2; "), std::string::npos) << res[r].output;
      namedVictim += res[r].output.find("suspect rank 2") != std::string::npos;
    } else {
      EXPECT_EQ(res[r].exitCode, 0) << res[r].output;
      EXPECT_NE(res[r].output.find("rank 2"), std::string::npos) << res[r].output;
      EXPECT_NE(res[r].output.find("of 3"), std::string::npos) << res[r].output;
      EXPECT_NE(res[r].output.find("10 allreduces after shrink ok"), std::string::npos) << res[r].output;
    }
    std::printf("%s", res[r].output.c_str());
  }
  if (stoppedShm) {
    EXPECT_EQ(namedVictim, n - 1);
  }
}

INSTANTIATE_TEST_SUITE_P(Faults, Survive,
                         ::testing::Values(Case{"tcp", "kill"}, Case{"shm", "kill"}, Case{"tcp", "stop"},
                                           Case{"shm", "stop"}, Case{"shm", "kill", "board"},
                                           Case{"shm", "stop", "board"}),
                         [](const auto& info) {
                           return info.param.transport + "_" + info.param.how +
                                  (info.param.algo.empty() ? "" : "_" + info.param.algo);
                         });

// Ranks that disagree on a call on the board get an error naming the field, never a wrong result
// or a hang.
TEST(Board, MismatchedCallsFailNamingTheField) {
  auto r = loomtest::runProcess({LOOMRUN, "-n", "3", "--tag-output", "--", MP_MISC, "mismatch"},
                                {"LOOM_TRANSPORT=shm", "LOOM_ALGO=board", "LOOM_TIMEOUT=20"}, 60);
  EXPECT_FALSE(r.timedOut) << r.output;
  for (int rank = 0; rank < 3; ++rank) {
    const std::string line = "rank " + std::to_string(rank) + ": invalid usage: collective mismatch on the board";
    EXPECT_NE(r.output.find(line), std::string::npos) << r.output;
  }
  EXPECT_NE(r.output.find("first differing field: count"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("not detected"), std::string::npos) << r.output;
}

}  // namespace

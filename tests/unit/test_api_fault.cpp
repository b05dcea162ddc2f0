// Split, shrink, the LOOM_CHECK mismatch check and abort from another thread.
#include <gtest/gtest.h>
#include <loom/loom.h>
#include <stdlib.h>

#include <chrono>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "rank_threads.hpp"

namespace {

using Clock = std::chrono::steady_clock;

using loomtest::onRanks;

TEST(Split, ByColorOrderedByKey) {
  loomComm_t comms[4];
  ASSERT_EQ(loomCommInitAll(comms, 4), loomSuccess);
  loomComm_t child[4] = {};
  onRanks(4, [&](int r) {
    int color = r == 3 ? LOOM_SPLIT_NOCOLOR : r % 2;
    ASSERT_EQ(loomCommSplit(comms[r], color, -r, &child[r]), loomSuccess) << loomGetLastError(comms[r]);
  });
  EXPECT_EQ(child[3], nullptr);
  int rank0, rank2, size0, size1;
  loomCommUserRank(child[0], &rank0);
  loomCommUserRank(child[2], &rank2);
  loomCommCount(child[0], &size0);
  loomCommCount(child[1], &size1);
  EXPECT_EQ(size0, 2);
  EXPECT_EQ(size1, 1);
  EXPECT_EQ(rank2, 0);  // key -2 < key 0
  EXPECT_EQ(rank0, 1);
  onRanks(3, [&](int r) {
    int x = r + 1;
    EXPECT_EQ(loomAllReduce(&x, &x, 1, loomInt32, loomSum, child[r], nullptr), loomSuccess);
    EXPECT_EQ(x, r == 1 ? 2 : 4);
  });
  for (int r = 0; r < 4; ++r) {
    if (child[r]) loomCommDestroy(child[r]);
    loomCommDestroy(comms[r]);
  }
}

// Rank 1 leaves; the others shrink around it without talking to it and carry on.
TEST(Shrink, SurvivorsContinueWithCorrectResults) {
  const int n = 8;
  loomComm_t comms[n];
  ASSERT_EQ(loomCommInitAll(comms, n), loomSuccess);
  ASSERT_EQ(loomCommDestroy(comms[1]), loomSuccess);
  loomComm_t child[n] = {};
  double seconds[n] = {};
  const int exclude[] = {1};
  onRanks(n, [&](int r) {
    if (r == 1) return;
    auto t0 = Clock::now();
    ASSERT_EQ(loomCommShrink(comms[r], exclude, 1, &child[r]), loomSuccess) << loomGetLastError(comms[r]);
    seconds[r] = std::chrono::duration<double>(Clock::now() - t0).count();
    int size = 0;
    loomCommCount(child[r], &size);
    EXPECT_EQ(size, n - 1);
    std::vector<float> v(1000, 1.0f);
    EXPECT_EQ(loomAllReduce(v.data(), v.data(), v.size(), loomFloat32, loomSum, child[r], nullptr), loomSuccess);
    EXPECT_EQ(v[999], n - 1.0f);
  });
  for (int r = 0; r < n; ++r) {
    if (r == 1) continue;
    EXPECT_LT(seconds[r], 5.0) << "shrink took " << seconds[r] << " s";  // bound generous; docs report figures
    loomCommDestroy(child[r]);
    loomCommDestroy(comms[r]);
  }
  int excluded = 1, self = 0;
  loomComm_t one[2], out;
  ASSERT_EQ(loomCommInitAll(one, 2), loomSuccess);
  EXPECT_EQ(loomCommShrink(one[0], &self, 1, &out), loomInvalidArgument);
  excluded = 7;
  EXPECT_EQ(loomCommShrink(one[0], &excluded, 1, &out), loomInvalidArgument);
  EXPECT_NE(std::string(loomGetLastError(one[0])).find("out of range"), std::string::npos);
  loomCommDestroy(one[0]);
  loomCommDestroy(one[1]);
}

TEST(Check, MismatchedCountFailsOnEveryRankNamingTheField) {
  setenv("LOOM_CHECK", "1", 1);
  setenv("LOOM_TIMEOUT", "20", 1);
  loomComm_t comms[3];
  ASSERT_EQ(loomCommInitAll(comms, 3), loomSuccess);
  unsetenv("LOOM_CHECK");
  unsetenv("LOOM_TIMEOUT");
  loomResult_t res[3];
  std::string err[3];
  auto t0 = Clock::now();
  onRanks(3, [&](int r) {
    std::vector<float> v(64, 1.0f);
    // A matching call first: the check passes and the result is right.
    EXPECT_EQ(loomAllReduce(v.data(), v.data(), 8, loomFloat32, loomSum, comms[r], nullptr), loomSuccess);
    EXPECT_EQ(v[0], 3.0f);
    res[r] = loomAllReduce(v.data(), v.data(), r == 2 ? 16 : 8, loomFloat32, loomSum, comms[r], nullptr);
    err[r] = loomGetLastError(comms[r]);
  });
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 10.0);
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(res[r], loomRemoteError) << err[r];
    EXPECT_NE(err[r].find("rank 2 called allreduce(count 16"), std::string::npos) << err[r];
    EXPECT_NE(err[r].find("differing field: count"), std::string::npos) << err[r];
    loomCommDestroy(comms[r]);
  }
}

// Rank 1 never joins allreduce #2: the ranks that time out say so, naming it and what the
// others were doing, instead of only the neighbour each one waits on.
TEST(TimeoutReport, NamesTheRankThatNeverReachedTheOperation) {
  const int n = 4;
  loomComm_t comms[n];
  ASSERT_EQ(loomCommInitAll(comms, n), loomSuccess);
  for (auto c : comms) ASSERT_EQ(loomCommSetTimeout(c, 1.0), loomSuccess);  // instead of LOOM_TIMEOUT
  double t = 0;
  ASSERT_EQ(loomCommGetTimeout(comms[0], &t), loomSuccess);
  EXPECT_EQ(t, 1.0);
  EXPECT_EQ(loomCommSetTimeout(comms[0], -1), loomInvalidArgument);
  EXPECT_NE(std::string(loomGetLastError(comms[0])).find("timeout -1 s"), std::string::npos);
  EXPECT_EQ(loomCommSetTimeout(comms[0], std::nan("")), loomInvalidArgument);
  EXPECT_EQ(loomCommSetTimeout(nullptr, 1), loomInvalidArgument);
  EXPECT_EQ(loomCommGetTimeout(comms[0], nullptr), loomInvalidArgument);
  loomResult_t rc[n] = {};
  std::string msg[n];
  onRanks(n, [&](int r) {
    int x = r;
    ASSERT_EQ(loomAllReduce(&x, &x, 1, loomInt32, loomSum, comms[r], nullptr), loomSuccess);  // #1
    if (r == 1) return;  // idle from here on
    rc[r] = loomAllReduce(&x, &x, 1, loomInt32, loomSum, comms[r], nullptr);                  // #2
    msg[r] = loomGetLastError(comms[r]);
  });
  for (int r : {0, 2, 3}) {
    EXPECT_TRUE(rc[r] == loomTimeout || rc[r] == loomRemoteError) << r << ": " << msg[r];
    EXPECT_NE(msg[r].find("never reached #2: rank 1 (idle; last issued #1)"), std::string::npos) << r << ": " << msg[r];
    EXPECT_NE(msg[r].find("suspect rank 1"), std::string::npos) << r << ": " << msg[r];
  }
  for (auto& c : comms) loomCommDestroy(c);
}

// A blocking receive that nobody answers is failed by loomCommAbort from another thread.
TEST(Abort, FromAnotherThreadFailsPendingWithinOneSecond) {
  loomComm_t comms[2];
  ASSERT_EQ(loomCommInitAll(comms, 2), loomSuccess);
  loomResult_t blocked = loomSuccess, async = loomSuccess;
  double waited = 0;
  std::thread receiver([&] {
    float x;
    loomRequest_t req;
    ASSERT_EQ(loomRecv(&x, 1, loomFloat32, 1, comms[0], &req), loomSuccess);
    auto t0 = Clock::now();
    blocked = loomRecv(&x, 1, loomFloat32, 1, comms[0], nullptr);
    waited = std::chrono::duration<double>(Clock::now() - t0).count();
    async = loomWait(req);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto t0 = Clock::now();
  EXPECT_EQ(loomCommAbort(comms[0]), loomSuccess);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 1.0);
  receiver.join();
  EXPECT_NE(blocked, loomSuccess);
  EXPECT_NE(async, loomSuccess);
  EXPECT_LT(waited, 1.5);
  EXPECT_EQ(loomCommAbort(comms[0]), loomInvalidUsage);
  EXPECT_EQ(loomCommDestroy(comms[1]), loomSuccess);
}

}  // namespace

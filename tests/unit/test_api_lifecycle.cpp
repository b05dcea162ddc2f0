// Init/destroy hygiene, duplicate ranks, nonblocking requests, and several communicators used
// at once from different threads.
#include <dirent.h>
#include <gtest/gtest.h>
#include <loom/loom.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "rank_threads.hpp"

namespace {

// Entries of `dir` whose names start with `prefix` and end with `suffix`.
int countEntries(const char* dir, const std::string& prefix = "", const std::string& suffix = "") {
  int n = 0;
  if (DIR* d = opendir(dir)) {
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name[0] != '.' && name.starts_with(prefix) && name.ends_with(suffix)) ++n;
    }
    closedir(d);
  }
  return n;
}

// This process's shm segments (named /loom-ID-RANK-PID): tests running beside it have their own.
int ownShmSegments() { return countEntries("/dev/shm", "loom-", "-" + std::to_string(getpid())); }

using loomtest::onRanks;

TEST(Lifecycle, TwoHundredCyclesLeaveNothingBehind) {
  for (const char* transport : {"shm", "tcp"}) {
    setenv("LOOM_TRANSPORT", transport, 1);
    int fds = 0, threads = 0, shm = 0;
    for (int cycle = 0; cycle <= 100; ++cycle) {
      if (cycle == 1) {  // after one warm-up cycle: process-wide singletons exist by then
        for (int i = 0; i < 100 && countEntries("/proc/self/task") > 1; ++i) usleep(20000);
        fds = countEntries("/proc/self/fd"), threads = countEntries("/proc/self/task");
        shm = ownShmSegments();
      }
      loomComm_t comms[2];
      ASSERT_EQ(loomCommInitAll(comms, 2), loomSuccess) << loomGetLastError(nullptr);
      onRanks(2, [&](int r) {
        int x = r + 1;
        EXPECT_EQ(loomAllReduce(&x, &x, 1, loomInt32, loomSum, comms[r], nullptr), loomSuccess);
        EXPECT_EQ(x, 3);
      });
      ASSERT_EQ(loomCommDestroy(comms[0]), loomSuccess);
      ASSERT_EQ(loomCommDestroy(comms[1]), loomSuccess);
    }
    // The rendezvous thread of the last id ends when its ranks have left; give it a moment.
    for (int i = 0; i < 100 && countEntries("/proc/self/task") > threads; ++i) usleep(20000);
    EXPECT_EQ(countEntries("/proc/self/fd"), fds) << transport;
    EXPECT_EQ(countEntries("/proc/self/task"), threads) << transport;
    EXPECT_LE(ownShmSegments(), shm) << transport;
  }
  unsetenv("LOOM_TRANSPORT");
}

TEST(Lifecycle, TwoClaimsOnOneRankFail) {
  setenv("LOOM_INIT_TIMEOUT", "10", 1);
  loomUniqueId id;
  ASSERT_EQ(loomGetUniqueId(&id), loomSuccess);
  loomResult_t res[3];
  loomComm_t comms[3] = {};
  std::string errors[3];
  // Three ranks are expected and rank 2 never comes, so both claims on rank 1 reach the root
  // while it is still waiting.
  const int ranks[3] = {0, 1, 1};
  onRanks(3, [&](int i) {
    res[i] = loomCommInitRank(&comms[i], 3, id, ranks[i]);
    errors[i] = loomGetLastError(nullptr);
  });
  int invalidUsage = 0;
  for (int i = 0; i < 3; ++i) {
    if (res[i] == loomInvalidUsage) {
      ++invalidUsage;
      EXPECT_NE(errors[i].find("rank 1"), std::string::npos) << errors[i];
    }
    if (comms[i]) loomCommDestroy(comms[i]);
  }
  EXPECT_EQ(invalidUsage, 3);
  unsetenv("LOOM_INIT_TIMEOUT");
}

TEST(Lifecycle, NonblockingRequestsOverlapAndComplete) {
  loomComm_t comms[3];
  ASSERT_EQ(loomCommInitAll(comms, 3), loomSuccess);
  onRanks(3, [&](int r) {
    std::vector<double> a(100000, r), b(100000, 2.0 * r), ra(a.size()), rb(b.size());
    loomRequest_t q1, q2;
    ASSERT_EQ(loomAllReduce(a.data(), ra.data(), a.size(), loomFloat64, loomSum, comms[r], &q1), loomSuccess);
    ASSERT_EQ(loomAllReduce(b.data(), rb.data(), b.size(), loomFloat64, loomMax, comms[r], &q2), loomSuccess);
    int done = 0;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!done && std::chrono::steady_clock::now() < until) {
      ASSERT_EQ(loomTest(q2, &done), loomSuccess);
      std::this_thread::yield();
    }
    ASSERT_TRUE(done);
    EXPECT_EQ(loomWait(q1), loomSuccess);
    EXPECT_EQ(ra[99999], 3.0);
    EXPECT_EQ(rb[0], 4.0);
  });
  for (auto* c : comms) loomCommDestroy(c);
}

// Consecutive blocking calls that differ only in root, in place, type or collective each get
// their own schedule (a call shaped like the previous one reuses its plan), and a blocking call
// issued behind a nonblocking one waits its turn instead of running first on the caller's thread.
TEST(Lifecycle, NeighbouringCallShapesAndIssueOrder) {
  constexpr int kRanks = 3;
  constexpr size_t kCount = 1000;
  loomComm_t comms[kRanks];
  ASSERT_EQ(loomCommInitAll(comms, kRanks), loomSuccess);
  onRanks(kRanks, [&](int r) {
    loomComm_t c = comms[r];
    std::vector<float> in(kCount), out(kCount);
    for (int root : {0, 2, 2, 1}) {  // the same shape twice in a row, then another root
      for (size_t i = 0; i < kCount; ++i) in[i] = r == root ? static_cast<float>(100 * root + i) : -1.0f;
      ASSERT_EQ(loomBroadcast(in.data(), out.data(), kCount, loomFloat32, root, c, nullptr), loomSuccess);
      for (size_t i = 0; i < kCount; i += 97) ASSERT_EQ(out[i], static_cast<float>(100 * root + i)) << "root " << root;
    }
    for (int pass = 0; pass < 2; ++pass) {
      for (size_t i = 0; i < kCount; ++i) in[i] = static_cast<float>(r + i);
      const float* send = in.data();
      float* recv = pass == 0 ? out.data() : in.data();  // out of place, then in place
      ASSERT_EQ(loomAllReduce(send, recv, kCount, loomFloat32, loomSum, c, nullptr), loomSuccess);
      for (size_t i = 0; i < kCount; i += 97) ASSERT_EQ(recv[i], static_cast<float>(3 + 3 * i)) << "pass " << pass;
    }
    std::vector<int32_t> ints(kCount, r + 1), intsOut(kCount);  // same bytes, another type
    ASSERT_EQ(loomAllReduce(ints.data(), intsOut.data(), kCount, loomInt32, loomMax, c, nullptr), loomSuccess);
    EXPECT_EQ(intsOut[kCount - 1], kRanks);
    // A nonblocking allreduce, then a blocking one on the same buffer: the second must see the
    // first's result (issue order), so it sums 3 x (0+1+2) = 9.
    std::vector<double> v(kCount, r);
    loomRequest_t q;
    ASSERT_EQ(loomAllReduce(v.data(), v.data(), kCount, loomFloat64, loomSum, c, &q), loomSuccess);
    ASSERT_EQ(loomAllReduce(v.data(), v.data(), kCount, loomFloat64, loomSum, c, nullptr), loomSuccess);
    EXPECT_EQ(loomWait(q), loomSuccess);
    EXPECT_EQ(v[0], 9.0);
    EXPECT_EQ(v[kCount - 1], 9.0);
  });
  for (auto* c : comms) loomCommDestroy(c);
}

// Two communicators over the same ranks, each driven by its own threads at the same time, in
// opposite orders on different ranks: independent engines mean no cross-communicator deadlock.
TEST(Lifecycle, SeveralCommunicatorsFromDifferentThreads) {
  loomComm_t a[2], b[2];
  ASSERT_EQ(loomCommInitAll(a, 2), loomSuccess);
  ASSERT_EQ(loomCommInitAll(b, 2), loomSuccess);
  std::atomic<int> wrong{0};
  auto work = [&](loomComm_t* comms, int r, int base) {
    for (int i = 0; i < 200; ++i) {
      int x = base + r + i;
      if (loomAllReduce(&x, &x, 1, loomInt32, loomSum, comms[r], nullptr) != loomSuccess) ++wrong;
      if (x != 2 * (base + i) + 1) ++wrong;
    }
  };
  std::vector<std::thread> ts;
  for (int r = 0; r < 2; ++r) {
    ts.emplace_back(work, a, r, 0);
    ts.emplace_back(work, b, r, 1000);
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(wrong.load(), 0);
  for (int r = 0; r < 2; ++r) loomCommDestroy(a[r]), loomCommDestroy(b[r]);
}

TEST(Lifecycle, InitAllWithOneRank) {
  loomComm_t c;
  ASSERT_EQ(loomCommInitAll(&c, 1), loomSuccess);
  float x[3] = {1, 2, 3}, y[3];
  EXPECT_EQ(loomAllReduce(x, y, 3, loomFloat32, loomAvg, c, nullptr), loomSuccess);
  EXPECT_EQ(y[2], 3.0f);
  EXPECT_EQ(loomBarrier(c, nullptr), loomSuccess);
  EXPECT_EQ(loomCommDestroy(c), loomSuccess);
}

}  // namespace

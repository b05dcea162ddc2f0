// The replay on hand-made schedules (replay.cpp): the order of simultaneous actions, messages that
// leave before their receive is posted, and schedules that cannot run.
#include <gtest/gtest.h>

#include "cost/model.hpp"
#include "cost_test_support.hpp"

namespace loom::cost {
namespace {

using namespace testing_support;

// Hand-made schedules (cost::replay): three ranks with a core each, all through the rings.
// Rank 1 sends block X to rank 2 while block M from rank 0 arrives; once its thread is free it
// has M to drain and a copy of its own to make, and after M, M to forward and the copy.
TEST(CostModel, ArrivedDataFirstThenSendsThenLocalWork) {
  using namespace sched;
  const size_t b = 100000;  // through a ring 10 us, a copy 5 us, fragments of 25,024 B
  std::vector<Schedule> s(3);
  s[0].add(send(1, in(0, b)));
  s[1].add(send(2, in(0, b)));
  const uint32_t m = s[1].add(recv(0, out(0, b)));
  s[1].add(send(2, out(0, b)), {m});
  s[1].add(copy(in(0, b), scratch(0, b)));
  s[1].scratchBytes = b;
  s[2].add(recv(1, out(0, b)));
  s[2].add(recv(1, out(0, b)));
  auto e = replay(simple(), ringOnly(3, 3), s);
  ASSERT_TRUE(e.isOk()) << e.status().message();
  // Rank 1: X 0-10 (a send before the copy at 0); at 10 M (in since 4.5) 10-20; at 20 the forward
  // 20-30, then the copy 30-35. Rank 2 reads M from 20 + 4.5, ends one fragment after the
  // forward: 34.5. The copy first at 10 or at 20 would put the forward at 25-35 and the end at 39.5.
  EXPECT_NEAR(e->us, 35.0, 1e-6);
}

// Rank 1, busy sending X until 10, then has M (in since 4.5) to drain and Y to send to rank 3,
// which copies what Y brings. Draining first delays Y, and so the job.
TEST(CostModel, ArrivedDataBeforeASend) {
  using namespace sched;
  const size_t b = 100000;
  std::vector<Schedule> s(4);
  s[0].add(send(1, in(0, b)));
  s[1].add(send(2, in(0, b)));
  s[1].add(recv(0, out(0, b)));
  s[1].add(send(3, in(0, b)));
  s[2].add(recv(1, out(0, b)));
  const uint32_t y = s[3].add(recv(1, out(0, b)));
  s[3].add(copy(in(0, 4 * b), scratch(0, 4 * b)), {y});  // 20 us
  s[3].scratchBytes = 4 * b;
  auto e = replay(simple(), ringOnly(4, 4), s);
  ASSERT_TRUE(e.isOk()) << e.status().message();
  // M 10-20, Y 20-30, rank 3 reads Y until 34.5 and copies until 54.5 (the fragments are 25,024 B,
  // hence the 0.0024). Y first would end at 44.5.
  EXPECT_NEAR(e->us, 54.5024, 1e-6);
}

// A message leaves before its receive is posted, as the transports send: it waits in the ring.
// Rank 0 sends 100,000 bytes (10 us into the ring), copies 1000 bytes, then posts a receive of
// rank 1's 1000 bytes. Rank 1 sent those at 0, before its thread took rank 0's message
// (4.5-14.5): rank 0 drains them at 10.1 and the job ends with rank 1's receive, 14.5. Were the
// message to wait for its receive (10.05), rank 1's thread would send it only after that
// receive: in at 16.6, the end 16.7.
TEST(CostModel, MessageLeavesBeforeItsReceiveIsPosted) {
  using namespace sched;
  auto run = [](size_t bytes) {
    std::vector<Schedule> s(2);
    s[0].add(send(1, in(0, 100000)));
    const uint32_t busy = s[0].add(copy(in(0, 1000), scratch(0, 1000)));
    s[0].scratchBytes = 1000;
    s[0].add(recv(1, out(0, bytes)), {busy});
    s[1].add(send(0, in(0, bytes)));
    s[1].add(recv(0, out(0, 100000)));
    return replay(simple(), ringOnly(2, 2), s);
  };
  auto small = run(1000);
  ASSERT_TRUE(small.isOk()) << small.status().message();
  EXPECT_NEAR(small->us, 14.5024, 1e-6);
  // A message larger than the ring (8 slots of 256 KiB) waits for its receive (10.05), so rank 1
  // takes rank 0's message first: its copy in runs 14.5-433.9, the last 256 KiB fragment is out
  // alpha and 26.2 us later (leaving at 0 it would end at 447.6).
  const size_t big = 4 << 20;
  auto large = run(big);
  ASSERT_TRUE(large.isOk()) << large.status().message();
  EXPECT_NEAR(large->us, 14.5024 + static_cast<double>(big) / 1e4 + 2.0 + (256 << 10) / 1e4, 1e-6);
}

// What let a message leave before its receive was posted must still hold when it goes. Rank 0's
// 8 MiB send to rank 1 (more than the ring holds) is matched while rank 0 has a receive from
// rank 1 posted, which would let it go single copy early; that receive completes before the send
// commits, so the send waits for rank 1's receive, posted only after rank 2's 2000 us copy. Rank
// 0's 4000 us copy follows its send: the job ends after 6000 us (leaving early, it had ended at
// 4849).
TEST(CostModel, AMessageThatMayNoLongerLeaveEarlyWaitsForItsReceive) {
  using namespace sched;
  const size_t big = 8 << 20;
  std::vector<Schedule> s(3);
  s[0].add(recv(1, out(0, 1000)));
  const uint32_t c0 = s[0].add(copy(in(0, 200000), scratch(0, 200000)));
  s[0].scratchBytes = 200000;
  const uint32_t sent = s[0].add(send(1, in(0, big)), {c0});
  s[0].add(copy(in(0, 80000000), out(0, 80000000)), {sent});
  const uint32_t c1 = s[1].add(copy(in(0, 100000), scratch(0, 100000)));
  s[1].scratchBytes = 100000;
  s[1].add(send(0, in(0, 1000)), {c1});
  const uint32_t fromTwo = s[1].add(recv(2, out(0, 1000)));
  s[1].add(recv(0, out(0, big)), {fromTwo});
  const uint32_t c2 = s[2].add(copy(in(0, 40000000), scratch(0, 40000000)));
  s[2].scratchBytes = 40000000;
  s[2].add(send(1, in(0, 1000)), {c2});
  Placement p = Placement::singleHost(3, 3);
  p.shmCmaBytes = 16 << 10;
  auto e = replay(simple(), p, s);
  ASSERT_TRUE(e.isOk()) << e.status().message();
  EXPECT_GT(e->us, 2000.0 + 4000.0);
}

TEST(CostModel, HandMadeSchedulesThatCannotRunAreRefused) {
  using namespace sched;
  std::vector<Schedule> s(2);  // each waits for the other's message before sending its own
  for (int r = 0; r < 2; ++r) {
    const uint32_t got = s[r].add(recv(1 - r, out(0, 64)));
    s[r].add(send(1 - r, in(0, 64)), {got});
  }
  auto dead = replay(simple(), ringOnly(2, 2), s);
  ASSERT_FALSE(dead.isOk());
  EXPECT_EQ(dead.status().code(), loomInvalidArgument);
  EXPECT_NE(dead.status().message().find("deadlock"), std::string::npos) << dead.status().message();
  std::vector<Schedule> lone(2);
  lone[0].add(send(1, in(0, 64)));
  auto unmatched = replay(simple(), ringOnly(2, 2), lone);
  ASSERT_FALSE(unmatched.isOk());
  EXPECT_NE(unmatched.status().message().find("unmatched messages from rank 0 to rank 1"), std::string::npos);
  auto few = replay(simple(), ringOnly(3, 3), lone);
  ASSERT_FALSE(few.isOk());
  EXPECT_NE(few.status().message().find("2 schedules for 3 ranks"), std::string::npos) << few.status().message();
}

}  // namespace
}  // namespace loom::cost

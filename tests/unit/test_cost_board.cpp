// The board's closed form in the cost model (model_board.cpp): where it fits, what one call and a
// loop of calls cost, and when selection offers it.
#include <gtest/gtest.h>

#include "cost/model.hpp"
#include "cost_test_support.hpp"

namespace loom::cost {
namespace {

using namespace testing_support;

TEST(CostModel, BoardFitsOneHostOverSharedMemoryAndItsEntries) {
  Placement p = Placement::singleHost(4, 4);
  p.boardBytes = 4096;
  EXPECT_TRUE(p.boardFits(Coll::AllReduce, 1024, 4));
  EXPECT_FALSE(p.boardFits(Coll::AllReduce, 1025, 4));
  EXPECT_TRUE(p.boardFits(Coll::AllToAll, 256, 4)) << "a rank posts all 4 blocks";
  EXPECT_FALSE(p.boardFits(Coll::AllToAll, 257, 4));
  EXPECT_FALSE(p.boardFits(Coll::Gather, 1, 4)) << "no board path";
  Placement tcp = p;
  tcp.tcpOnly = true;
  EXPECT_FALSE(tcp.boardFits(Coll::AllReduce, 1, 4));
  Placement two = Placement::blocks(4, 2, 2);
  EXPECT_FALSE(two.boardFits(Coll::AllReduce, 1, 4));
  Placement none = p;
  none.boardBytes = 0;
  EXPECT_FALSE(none.boardFits(Coll::AllReduce, 1, 4));
}

TEST(CostModel, BoardClosedForm) {
  // 2 ranks on 2 cores, allreduce of 1000 floats: each rank copies its 4000 bytes in (copy rate),
  // waits one alpha, reads the peer's entry (shm rate) and reduces once (reduce rate).
  Tuning t = simple();
  t.opUs = 0.5;
  auto e = estimate(t, Placement::singleHost(2, 2), shape(Coll::AllReduce, 1000), Algo::Board, false, true);
  ASSERT_TRUE(e.isOk()) << e.status().message();
  const double expect = 0.5 + 4000 / 2e4 + 4000 / 1e4 + 4000 / 1e4 + 2.0;
  EXPECT_NEAR(e->us, expect, 1e-9);
  EXPECT_NEAR(e->loopUs, expect, 1e-9) << "every rank waits for every rank: no overlap";
  EXPECT_EQ(e->messages, 1u);
  EXPECT_EQ(e->shmBytes, 4000u);

  // 4 ranks on 2 cores, broadcast: the root only posts; readers pay alpha and a wake-up, their
  // work stretched twice. In a loop the root runs ahead: the busiest core's work per call.
  auto b = estimate(t, Placement::singleHost(4, 2), shape(Coll::Broadcast, 1000), Algo::Board, false, true);
  ASSERT_TRUE(b.isOk());
  const double reader = 0.5 + 4000 / 1e4, root = 0.5 + 4000 / 2e4;
  EXPECT_NEAR(b->us, 2 * reader + 2.0 + 30.0, 1e-9);
  EXPECT_NEAR(b->loopUs, (root + 3 * reader) / 2, 1e-9);

  // Reading entries another core wrote: at the single-copy rate, after polling their flags once
  // per call (msg_us, on the reader's thread and part of the handoff's alpha).
  t.singleCopyCachedGbps = 5;
  t.shm.msgUs = 0.25;
  auto polled = estimate(t, Placement::singleHost(2, 2), shape(Coll::AllReduce, 1000), Algo::Board, false, true);
  ASSERT_TRUE(polled.isOk());
  EXPECT_NEAR(polled->us, 0.5 + 4000 / 2e4 + 0.25 + 4000 / 5e3 + 4000 / 1e4 + (2.0 - 0.25), 1e-9);
  EXPECT_NEAR(polled->loopUs, polled->us, 1e-9) << "each call waits for every poll";

  // A looped broadcast's readers find their entries posted (the root runs ahead): one call pays
  // the poll, the loop does not.
  auto ahead = estimate(t, Placement::singleHost(4, 2), shape(Coll::Broadcast, 1000), Algo::Board, false, true);
  ASSERT_TRUE(ahead.isOk());
  const double polledReader = 0.5 + 0.25 + 4000 / 5e3, unpolledReader = 0.5 + 4000 / 5e3;
  EXPECT_NEAR(ahead->us, 2 * polledReader + (2.0 - 0.25) + 30.0, 1e-9);
  EXPECT_NEAR(ahead->loopUs, (root + 3 * unpolledReader) / 2, 1e-9);

  // Where it cannot run, it is an error, not a guess.
  EXPECT_FALSE(estimate(t, Placement::blocks(4, 2, 2), shape(Coll::AllReduce, 1), Algo::Board).isOk());
}

TEST(CostModel, BoardIsACandidateOnlyWhereItFits) {
  Placement p = Placement::singleHost(4, 4);
  p.boardBytes = 4096;
  // Each step a message takes costs its executor something (step_us): with nothing at all, one
  // round of messages that all leave at once (direct) would tie with the board's one handoff.
  Tuning stepped = simple();
  stepped.stepUs = 0.15;
  auto small = choose(stepped, p, shape(Coll::AllReduce, 2));
  ASSERT_TRUE(small.isOk());
  EXPECT_EQ(small->best.algo, Algo::Board) << "8 bytes: one handoff beats any schedule of messages";
  auto big = choose(simple(), p, shape(Coll::AllReduce, 1 << 20));
  ASSERT_TRUE(big.isOk());
  for (const auto& c : big->candidates) EXPECT_NE(c.algo, Algo::Board);
  p.tcpOnly = true;
  auto tcp = choose(simple(), p, shape(Coll::AllReduce, 2));
  ASSERT_TRUE(tcp.isOk());
  for (const auto& c : tcp->candidates) EXPECT_NE(c.algo, Algo::Board);
}

}  // namespace
}  // namespace loom::cost

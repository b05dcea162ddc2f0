// PreparedSchedule: which sends hold data the user left at rest (the transport may let a peer read
// them in place) and which send what this run just wrote.
#include <gtest/gtest.h>

#include "algo/algorithms.hpp"
#include "core/prepared.hpp"

namespace loom::core {
namespace {

using sched::in;
using sched::out;
using sched::scratch;

TEST(PreparedSchedule, SendsAtRestAreThoseNoEarlierStepWrote) {
  sched::Schedule s;
  const uint32_t fromInput = s.add(sched::send(1, in(0, 64)));
  const uint32_t untouchedOutput = s.add(sched::send(1, out(0, 64)), {fromInput});  // ordered, but after a send
  const uint32_t got = s.add(sched::recv(1, out(64, 64)));
  const uint32_t relay = s.add(sched::send(1, out(64, 64)), {got});
  const uint32_t copied = s.add(sched::copy(in(0, 64), scratch(0, 64)));
  const uint32_t fromScratch = s.add(sched::send(1, scratch(0, 64)), {copied});
  const uint32_t later = s.add(sched::send(1, out(0, 64)), {relay});  // after a step that waited for a write
  const uint32_t unordered = s.add(sched::send(1, scratch(0, 64)));  // nothing ordered before it
  auto p = PreparedSchedule::prepare(std::move(s), 2, true);
  EXPECT_TRUE(p.receivesCopy);
  EXPECT_TRUE(p.sendsAtRest[fromInput]);
  EXPECT_TRUE(p.sendsAtRest[untouchedOutput]);
  EXPECT_FALSE(p.sendsAtRest[relay]);
  EXPECT_FALSE(p.sendsAtRest[fromScratch]);
  EXPECT_FALSE(p.sendsAtRest[later]) << "its ancestors wrote Output";
  EXPECT_TRUE(p.sendsAtRest[unordered]);
  EXPECT_FALSE(p.sendsAtRest[got]) << "only sends";
}

// An in-place broadcast root sends what the user left in its buffer; the next rank of the chain
// forwards what it just received.
TEST(PreparedSchedule, InPlaceBroadcastRootSendsAtRest) {
  for (int rank : {0, 1}) {
    algo::CollArgs a;
    a.coll = algo::Coll::Broadcast;
    a.count = 1 << 16;
    a.elemSize = 4;
    a.nranks = 3;
    a.rank = rank;
    a.root = 0;
    a.inPlace = true;
    a.chunkBytes = 64 << 10;
    auto s = algo::makeSchedule(algo::Algo::Ring, a);
    ASSERT_TRUE(s.isOk()) << s.status().message();
    auto p = PreparedSchedule::prepare(std::move(s.value()), 3, false);
    size_t sends = 0;
    for (uint32_t i = 0; i < p.schedule.steps.size(); ++i) {
      if (p.schedule.steps[i].kind != sched::StepKind::Send) continue;
      ++sends;
      EXPECT_EQ(p.sendsAtRest[i] != 0, rank == 0) << "rank " << rank << " step " << i;
    }
    EXPECT_EQ(sends, 4u);
  }
}

}  // namespace
}  // namespace loom::core

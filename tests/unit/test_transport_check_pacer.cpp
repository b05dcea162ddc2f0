// CheckPacer: when a progress pass reads the clock for liveness work. Every kCalls-th pass, and
// at the first pass after kBytes moved, so that long passes that move data (tcp on crowded cores)
// still send heartbeats and notice silence in time.
#include <gtest/gtest.h>

#include "transport/check_pacer.hpp"

namespace loom::transport {
namespace {

TEST(CheckPacer, TheFirstPassReadsTheClockThenEveryKCallsThOne) {
  CheckPacer p;
  EXPECT_TRUE(p.due());
  for (unsigned round = 0; round < 3; ++round) {
    for (unsigned i = 1; i < CheckPacer::kCalls; ++i) EXPECT_FALSE(p.due()) << "call " << i;
    EXPECT_TRUE(p.due());
  }
}

TEST(CheckPacer, BytesMovedBringTheReadForward) {
  CheckPacer p;
  ASSERT_TRUE(p.due());
  // Passes that each move a quarter of kBytes: the fourth reads the clock, long before kCalls.
  for (int pass = 0; pass < 3; ++pass) {
    EXPECT_FALSE(p.due()) << pass;
    p.moved(CheckPacer::kBytes / 4);
  }
  EXPECT_FALSE(p.due());
  p.moved(CheckPacer::kBytes / 4);
  EXPECT_TRUE(p.due());
  // The count starts again from nothing: small moves do not add up to a read before kCalls.
  p.moved(100);
  for (unsigned i = 1; i < CheckPacer::kCalls; ++i) EXPECT_FALSE(p.due()) << "call " << i;
  EXPECT_TRUE(p.due());
}

TEST(CheckPacer, OnePassMovingAWholeWindowIsFollowedByARead) {
  CheckPacer p;
  ASSERT_TRUE(p.due());
  EXPECT_FALSE(p.due());
  p.moved(64 << 20);
  EXPECT_TRUE(p.due());
  EXPECT_FALSE(p.due());
}

TEST(CheckPacer, PrimedAfterAWait) {
  CheckPacer p;
  ASSERT_TRUE(p.due());
  EXPECT_FALSE(p.due());
  p.prime();
  EXPECT_TRUE(p.due());
}

}  // namespace
}  // namespace loom::transport

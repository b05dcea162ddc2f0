// The shared core's timeline of the cost model: gaps found before work placed earlier, and
// intervals merged however they arrive.
#include <gtest/gtest.h>

#include "cost/core_timeline.hpp"

using loom::cost::CoreTimeline;
using Intervals = std::vector<CoreTimeline::Interval>;

TEST(CoreTimeline, AnEmptyCoreStartsWorkAtOnce) {
  CoreTimeline c;
  EXPECT_EQ(c.earliestGap(7, 100), 7);
}

TEST(CoreTimeline, WorkFitsInAGapBeforeWorkPlacedEarlier) {
  CoreTimeline c;
  c.take(10, 20);
  EXPECT_EQ(c.earliestGap(0, 5), 0);    // ends before the busy piece
  EXPECT_EQ(c.earliestGap(0, 10), 0);   // ends exactly where it starts
  EXPECT_EQ(c.earliestGap(0, 15), 20);  // too long for the gap: after it
  EXPECT_EQ(c.earliestGap(8, 5), 20);   // would overlap from inside the gap
  EXPECT_EQ(c.earliestGap(12, 1), 20);  // starts inside the busy piece
  EXPECT_EQ(c.earliestGap(25, 1), 25);  // after everything
}

TEST(CoreTimeline, WorkTakesTheFirstGapLongEnough) {
  CoreTimeline c;
  for (double s : {40.0, 0.0, 20.0, 60.0}) c.take(s, s + 10);  // gaps of 10 at 10, 30, 50
  ASSERT_EQ(c.intervals(), (Intervals{{0, 10}, {20, 30}, {40, 50}, {60, 70}}));
  EXPECT_EQ(c.earliestGap(5, 10), 10);
  EXPECT_EQ(c.earliestGap(15, 10), 30);  // the gap at 10 has only 5 left from 15
  EXPECT_EQ(c.earliestGap(0, 11), 70);   // no gap is long enough
}

TEST(CoreTimeline, PiecesThatTouchOrOverlapMerge) {
  CoreTimeline c;
  c.take(0, 10);
  c.take(10, 20);  // touches
  EXPECT_EQ(c.intervals(), (Intervals{{0, 20}}));
  c.take(30, 40);
  c.take(50, 60);
  c.take(70, 80);
  c.take(15, 55);  // spans three pieces and two gaps
  EXPECT_EQ(c.intervals(), (Intervals{{0, 60}, {70, 80}}));
  c.take(62, 65);  // lands alone in a gap
  EXPECT_EQ(c.intervals(), (Intervals{{0, 60}, {62, 65}, {70, 80}}));
  c.take(-5, 100);  // covers everything
  EXPECT_EQ(c.intervals(), (Intervals{{-5, 100}}));
}

TEST(CoreTimeline, AnEmptyPieceHoldsNothing) {
  CoreTimeline c;
  c.take(5, 5);
  c.take(9, 3);
  EXPECT_TRUE(c.intervals().empty());
}

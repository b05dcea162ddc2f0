// OneWayJudge on synthetic times: which way a long one-way shm stream goes.
#include <gtest/gtest.h>

#include "transport/oneway_judge.hpp"

namespace loom::transport {
namespace {

using Way = OneWayJudge::Way;
constexpr double kGB = 1e9;
constexpr size_t kMsg = 2 << 20;

// Feeds `msgs` back-to-back messages of kMsg bytes that move at `bytesPerSecond`, each followed by
// `pause` of idleness, and returns the way the judge chose for each next message.
struct Stream {
  OneWayJudge judge;
  Clock::time_point now = Clock::time_point{} + std::chrono::hours(1);
  double probeBelow = 5 * kGB;

  Way run(double bytesPerSecond, int msgs, Clock::duration pause = {}) { return feed(-1, bytesPerSecond, msgs, pause); }
  // As run(), but every message goes `forced` (-1: the way the judge chose for it).
  Way feed(int forced, double bytesPerSecond, int msgs, Clock::duration pause = {}) {
    for (int i = 0; i < msgs; ++i) {
      const Way way = forced < 0 ? judge.way() : static_cast<Way>(forced);
      judge.started(way, now);
      now += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(kMsg / bytesPerSecond));
      judge.completed(way, kMsg, now, probeBelow);
      now += pause;
    }
    return judge.way();
  }
  // Messages to fill this many windows.
  static int windows(int n) { return n * static_cast<int>(OneWayJudge::kWindowBytes / kMsg); }
};

TEST(OneWayJudge, KeepsTheRingWhileItIsFasterThanTheProbeRate) {
  Stream s;
  EXPECT_EQ(s.run(10 * kGB, Stream::windows(20)), Way::kRing);
  EXPECT_NEAR(s.judge.rate(Way::kRing), 10 * kGB, 0.01 * kGB);
  EXPECT_EQ(s.judge.rate(Way::kSingle), 0);  // never tried
}

TEST(OneWayJudge, NeverProbesWithAZeroThreshold) {
  Stream s;
  s.probeBelow = 0;
  EXPECT_EQ(s.run(0.5 * kGB, Stream::windows(20)), Way::kRing);
  EXPECT_EQ(s.judge.rate(Way::kSingle), 0);
}

TEST(OneWayJudge, TriesSingleCopyWhereTheRingIsSlowAndKeepsTheFaster) {
  Stream s;
  // A warm-up window, then a measured one: 2 GB/s is below the probe rate.
  EXPECT_EQ(s.run(2 * kGB, Stream::windows(1)), Way::kRing);
  EXPECT_EQ(s.run(2 * kGB, Stream::windows(1)), Way::kSingle);
  // Single copy's own warm-up window, then its measured one.
  EXPECT_EQ(s.run(8 * kGB, Stream::windows(1)), Way::kSingle);
  EXPECT_EQ(s.judge.rate(Way::kSingle), 0);
  EXPECT_EQ(s.run(8 * kGB, Stream::windows(1)), Way::kSingle);
  EXPECT_NEAR(s.judge.rate(Way::kSingle), 8 * kGB, 0.01 * kGB);
  EXPECT_EQ(s.run(8 * kGB, Stream::windows(5)), Way::kSingle);
}

TEST(OneWayJudge, SingleCopyMustBeatTheRingByTheMargin) {
  Stream s;
  s.run(2 * kGB, Stream::windows(2));  // on to single copy
  EXPECT_EQ(s.run(2 * kGB * OneWayJudge::kMargin * 0.95, Stream::windows(2)), Way::kRing);
}

TEST(OneWayJudge, TimesTheRingAgainWhenItsFigureIsStaleAndReturnsToIt) {
  Stream s;
  s.run(2 * kGB, Stream::windows(2));
  s.run(8 * kGB, Stream::windows(2));
  ASSERT_EQ(s.judge.way(), Way::kSingle);
  s.now += OneWayJudge::kStale;
  // Once kMinWindows single-copy windows were measured and the ring's figure is stale, the ring
  // gets two windows (the measured window that chose single copy was the first).
  EXPECT_EQ(s.run(8 * kGB, Stream::windows(OneWayJudge::kMinWindows - 2)), Way::kSingle);
  EXPECT_EQ(s.run(8 * kGB, Stream::windows(1)), Way::kRing);
  EXPECT_EQ(s.run(20 * kGB, Stream::windows(1)), Way::kRing);  // warm-up
  EXPECT_EQ(s.run(20 * kGB, Stream::windows(1)), Way::kRing);  // fast again: stays
  EXPECT_NEAR(s.judge.rate(Way::kRing), 20 * kGB, 0.01 * kGB);
  EXPECT_EQ(s.run(20 * kGB, Stream::windows(10)), Way::kRing);
}

// A stream whose windows are far apart in time must not find the other way's figure stale at
// every decision (it would then send half its bytes the slow way): kMinWindows of the chosen way
// come between two timings of the other.
TEST(OneWayJudge, ASparseStreamDoesNotAlternate) {
  Stream s;
  s.run(2 * kGB, Stream::windows(2));
  s.run(8 * kGB, Stream::windows(2));
  ASSERT_EQ(s.judge.way(), Way::kSingle);
  int ring = 0;
  constexpr int kWindows = 60;
  for (int w = 0; w < kWindows; ++w) {
    const bool onRing = s.judge.way() == Way::kRing;
    ring += onRing;
    s.run(onRing ? 2 * kGB : 8 * kGB, Stream::windows(1), std::chrono::seconds(1));  // a window takes 4 s
  }
  EXPECT_EQ(s.judge.way(), Way::kSingle);
  EXPECT_LE(ring, 2 * (kWindows / (OneWayJudge::kMinWindows + 2) + 1));
  EXPECT_GE(ring, 2);  // it did time the ring again
}

// Single copy chosen, but the messages keep taking the ring (the receiver never shows a copy
// receive): back to the ring, and no new try for kBackoffWindows.
TEST(OneWayJudge, SingleCopyThatNeverHappensGivesWayToTheRing) {
  Stream s;
  s.run(2 * kGB, Stream::windows(2));
  ASSERT_EQ(s.judge.way(), Way::kSingle);
  s.feed(Way::kRing, 2 * kGB, Stream::windows(OneWayJudge::kStuckWindows));
  EXPECT_EQ(s.judge.way(), Way::kRing);
  EXPECT_EQ(s.run(2 * kGB, Stream::windows(OneWayJudge::kBackoffWindows - 1)), Way::kRing);
  EXPECT_EQ(s.judge.rate(Way::kSingle), 0);
  // Then it tries again.
  EXPECT_EQ(s.run(2 * kGB, Stream::windows(2)), Way::kSingle);
}

TEST(OneWayJudge, PausesBetweenMessagesDoNotCount) {
  Stream s;
  // 10 GB/s while moving, idle 10 ms between messages: still 10 GB/s, no probe.
  EXPECT_EQ(s.run(10 * kGB, Stream::windows(4), std::chrono::milliseconds(10)), Way::kRing);
  EXPECT_NEAR(s.judge.rate(Way::kRing), 10 * kGB, 0.01 * kGB);
}

TEST(OneWayJudge, OverlappingMessagesCountTheirBusyTimeOnce) {
  OneWayJudge j;
  Clock::time_point t = Clock::time_point{} + std::chrono::hours(1);
  const auto ms = std::chrono::milliseconds(1);
  // Two windows (warm-up and measured) of 4 messages of 2 MiB, all started at once, completing
  // 1 ms apart: 8 MiB in 4 ms.
  for (int w = 0; w < 2; ++w) {
    const auto t0 = t;
    for (int i = 0; i < 4; ++i) j.started(Way::kRing, t0);
    for (int i = 1; i <= 4; ++i) j.completed(Way::kRing, kMsg, t0 + i * ms, 100 * kGB);
    t = t0 + 4 * ms;
  }
  EXPECT_NEAR(j.rate(Way::kRing), static_cast<double>(OneWayJudge::kWindowBytes) / 4e-3, 1e6);
}

// A sender that writes a whole burst in one pass sees the receiver's drains only afterwards, all
// at once: those bytes count over the time their messages were in flight.
TEST(OneWayJudge, MessagesSeenDoneTogetherCountTheirTimeInFlight) {
  OneWayJudge j;
  Clock::time_point t = Clock::time_point{} + std::chrono::hours(1);
  const auto ms = std::chrono::milliseconds(1);
  for (int w = 0; w < 2; ++w) {  // a warm-up window and a measured one
    for (int i = 0; i < 4; ++i) j.started(Way::kRing, t + i * ms);
    t += 8 * ms;
    j.completed(Way::kRing, 4 * kMsg, t, 100 * kGB, 4);  // 8 MiB, in flight for 8 ms
    t += 5 * ms;                                           // idle: not counted
  }
  EXPECT_NEAR(j.rate(Way::kRing), static_cast<double>(OneWayJudge::kWindowBytes) / 8e-3, 1e6);
}

}  // namespace
}  // namespace loom::transport

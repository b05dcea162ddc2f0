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

  Way run(double bytesPerSecond, int msgs, Clock::duration pause = {}) {
    for (int i = 0; i < msgs; ++i) {
      const Way way = judge.way();
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
  // The next single-copy window finds the ring's figure stale: the ring gets two windows.
  EXPECT_EQ(s.run(8 * kGB, Stream::windows(1)), Way::kRing);
  EXPECT_EQ(s.run(20 * kGB, Stream::windows(1)), Way::kRing);  // warm-up
  EXPECT_EQ(s.run(20 * kGB, Stream::windows(1)), Way::kRing);  // fast again: stays
  EXPECT_NEAR(s.judge.rate(Way::kRing), 20 * kGB, 0.01 * kGB);
  EXPECT_EQ(s.run(20 * kGB, Stream::windows(10)), Way::kRing);
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

}  // namespace
}  // namespace loom::transport

// StoreJudge on made-up copy times: plain or streaming stores into a peer's ring slots.
#include <gtest/gtest.h>

#include "transport/shm_store_judge.hpp"

namespace loom::transport {
namespace {

using Kind = StoreJudge::Kind;
constexpr double kGB = 1e9;
constexpr size_t kCopy = 256 << 10;  // one slot's copy
constexpr int kCopiesPerWindow = StoreJudge::kWindowBytes / kCopy;

// Copies that each take bytes / rate, the clock advancing with them.
struct Sender {
  StoreJudge judge;
  StoreJudge::Clock::time_point now = StoreJudge::Clock::time_point{} + std::chrono::hours(1);

  // `windows` windows of copies: plain ones at `plainRate`, streamed ones at `streamRate`, as
  // the judge chooses copy by copy; the kind it chose for the next copy.
  Kind run(int windows, double plainRate, double streamRate) {
    for (int i = 0; i < windows * kCopiesPerWindow; ++i) copy(judge.kind() == Kind::kPlain ? plainRate : streamRate);
    return judge.kind();
  }
  void copy(double rate, double slowdown = 1) {
    const double s = slowdown * kCopy / rate;
    now += std::chrono::duration_cast<StoreJudge::Clock::duration>(std::chrono::duration<double>(s));
    judge.copied(kCopy, s, now);
  }
};

TEST(StoreJudge, StaysPlainWhileStreamingIsNotFasterByTheMargin) {
  Sender s;
  EXPECT_EQ(s.run(1, 1 * kGB, 1 * kGB), Kind::kPlain);  // the first window is not counted
  EXPECT_EQ(s.judge.rate(Kind::kPlain), 0);
  EXPECT_EQ(s.run(1, 10 * kGB, 15 * kGB), Kind::kStream);  // plain timed: now streaming's window
  EXPECT_EQ(s.run(1, 10 * kGB, 15 * kGB), Kind::kPlain);   // 1.5x: not by the margin
  EXPECT_NEAR(s.judge.rate(Kind::kPlain), 10 * kGB, 0.01 * kGB);
  EXPECT_NEAR(s.judge.rate(Kind::kStream), 15 * kGB, 0.01 * kGB);
  EXPECT_EQ(s.run(200, 10 * kGB, 15 * kGB), Kind::kPlain);  // and never times streaming again
}

TEST(StoreJudge, StreamsWhereThatCopiesFasterByTheMargin) {
  Sender s;
  s.run(2, 3 * kGB, 15 * kGB);  // warm-up, then plain at 3 GB/s
  EXPECT_EQ(s.run(1, 3 * kGB, 15 * kGB), Kind::kStream);
  EXPECT_EQ(s.run(10, 3 * kGB, 15 * kGB), Kind::kStream);
}

TEST(StoreJudge, TimesPlainAgainAfterEnoughWindowsAndTime) {
  Sender s;
  s.run(3, 3 * kGB, 15 * kGB);  // streaming chosen
  ASSERT_EQ(s.judge.kind(), Kind::kStream);
  // The cores come together: streaming goes on at its rate, plain is not timed at once...
  EXPECT_EQ(s.run(StoreJudge::kRecheckWindows - 2, 10 * kGB, 15 * kGB), Kind::kStream);
  // ...only once kRecheckWindows windows and kRecheckAfter have passed (the clock here moves only
  // with the copies: 2 MiB at 15 GB/s is 140 us, so time decides).
  EXPECT_EQ(s.run(4, 10 * kGB, 15 * kGB), Kind::kStream);
  s.now += StoreJudge::kRecheckAfter;
  EXPECT_EQ(s.run(1, 10 * kGB, 15 * kGB), Kind::kPlain);  // one plain window, timed
  EXPECT_EQ(s.run(1, 10 * kGB, 15 * kGB), Kind::kPlain);  // 10 against 15: plain stays
  EXPECT_NEAR(s.judge.rate(Kind::kPlain), 10 * kGB, 0.01 * kGB);
}

TEST(StoreJudge, TimesStreamingAgainNowAndThenWhilePlain) {
  Sender s;
  s.run(3, 10 * kGB, 12 * kGB);
  ASSERT_EQ(s.judge.kind(), Kind::kPlain);
  // Streaming's one figure was taken low (say, while another job held the memory bus): it is
  // timed again once enough windows and time have passed, and chosen where it now wins.
  EXPECT_EQ(s.run(StoreJudge::kRecheckWindows + 4, 10 * kGB, 30 * kGB), Kind::kPlain);
  s.now += StoreJudge::kRecheckAfter;
  EXPECT_EQ(s.run(1, 10 * kGB, 30 * kGB), Kind::kStream);  // its window
  EXPECT_EQ(s.run(1, 10 * kGB, 30 * kGB), Kind::kStream);  // 3x: kept
  EXPECT_NEAR(s.judge.rate(Kind::kStream), 30 * kGB, 0.01 * kGB);
}

TEST(StoreJudge, TimesStreamingAgainAtOnceWhenPlainFallsBehind) {
  Sender s;
  s.run(3, 10 * kGB, 12 * kGB);
  ASSERT_EQ(s.judge.kind(), Kind::kPlain);
  // The cores move apart: plain windows at a quarter of streaming's last figure. The first could
  // be the machine's doing; after the second, streaming is timed.
  EXPECT_EQ(s.run(1, 3 * kGB, 12 * kGB), Kind::kPlain);
  EXPECT_EQ(s.run(1, 3 * kGB, 12 * kGB), Kind::kStream);
  EXPECT_EQ(s.run(1, 3 * kGB, 12 * kGB), Kind::kStream);  // timed, and 4x: kept
  EXPECT_EQ(s.run(5, 3 * kGB, 12 * kGB), Kind::kStream);
}

TEST(StoreJudge, OneSlowPlainWindowDoesNotSwitch) {
  Sender s;
  s.run(3, 10 * kGB, 12 * kGB);
  ASSERT_EQ(s.judge.kind(), Kind::kPlain);
  EXPECT_EQ(s.run(1, 4 * kGB, 12 * kGB), Kind::kPlain);  // one window at 4: plain still counts 10
  EXPECT_EQ(s.run(StoreJudge::kRecheckWindows - 3, 10 * kGB, 12 * kGB), Kind::kPlain);
  // Nor when a comparison falls right after one: the window that dips is the one that makes
  // streaming due for its recheck, and plain's better recent figure decides against it.
  s.now += StoreJudge::kRecheckAfter;
  EXPECT_EQ(s.run(1, 10 * kGB, 12 * kGB), Kind::kPlain);
  EXPECT_EQ(s.run(1, 4 * kGB, 12 * kGB), Kind::kStream);  // streaming's window
  EXPECT_EQ(s.run(1, 10 * kGB, 12 * kGB), Kind::kPlain);  // 12 against 10, not against 4
}

TEST(StoreJudge, APreemptedCopyDoesNotDecide) {
  Sender s;
  s.run(3, 10 * kGB, 12 * kGB);
  ASSERT_EQ(s.judge.kind(), Kind::kPlain);
  // A window of plain copies, one of which the scheduler stopped for 1000x its time: the window's
  // rate holds (the copy counts at 4x the median), so streaming is not tried.
  s.copy(10 * kGB, 1000);
  for (int i = 1; i < kCopiesPerWindow; ++i) s.copy(10 * kGB);
  EXPECT_EQ(s.judge.kind(), Kind::kPlain);
  EXPECT_GT(s.judge.rate(Kind::kPlain), 6 * kGB);
}

}  // namespace
}  // namespace loom::transport

// A host's calibrations and their median: each measured constant the median of its own values,
// the samples kept in the cache file beside it and read back, a damaged sample named.
#include <gtest/gtest.h>

#include "cost/tuning.hpp"

namespace loom::cost {
namespace {

Tuning sample(double scale) {
  Tuning t;
  t.shm = {0.2 * scale, 12 / scale, 30 / scale, 0.17 * scale, 0};
  t.tcp = {6 * scale, 7 / scale, 9 / scale, 4.4 * scale, 2.9 / scale};
  t.copyGbps = 14 / scale;
  t.reduceGbps = 9 / scale;
  t.reduceLowGbps = 8 / scale;
  t.copyCachedGbps = 30 / scale;
  t.reduceCachedGbps = 20 / scale;
  t.singleCopyCachedGbps = 18 / scale;
  t.singleCopyGbps = 10 / scale;
  t.singleCopyUs = 1.3 * scale;
  t.wakeUs = 2.3 * scale;
  t.copyCurve = {{524288, 50 / scale}, {134217728, 8 / scale}};
  return t;
}

// Every measured constant of sample(scale): the median of three scaled samples must be exactly
// the middle one's, whichever order they come in.
void expectScaledBy(const Tuning& got, double scale) {
  const Tuning want = sample(scale);
  EXPECT_EQ(got.shm, want.shm);
  EXPECT_EQ(got.tcp, want.tcp);
  for (double Tuning::*f : {&Tuning::copyGbps, &Tuning::reduceGbps, &Tuning::reduceLowGbps, &Tuning::copyCachedGbps,
                            &Tuning::reduceCachedGbps, &Tuning::singleCopyCachedGbps, &Tuning::singleCopyGbps,
                            &Tuning::singleCopyUs, &Tuning::wakeUs})
    EXPECT_DOUBLE_EQ(got.*f, want.*f);
  EXPECT_EQ(got.copyCurve, want.copyCurve);
}

TEST(TuningMedian, EachConstantIsItsOwnMedian) {
  // A calibration slowed 6x (every latency up, every rate down) between two of an idle machine.
  expectScaledBy(medianOf({sample(1.0), sample(6.0), sample(1.25)}), 1.25);
  expectScaledBy(medianOf({sample(6.0), sample(1.25), sample(1.0)}), 1.25);
  expectScaledBy(medianOf({sample(1.5)}), 1.5);
}

TEST(TuningMedian, ConstantsAreTakenApartNotAsOneSample) {
  Tuning a = sample(1), b = sample(1), c = sample(1);
  a.wakeUs = 13.6;  // one calibration's wake-up taken on busy cores
  b.tcp.gbps = 3.5;  // another's tcp stream slowed
  Tuning m = medianOf({a, b, c});
  EXPECT_DOUBLE_EQ(m.wakeUs, 2.3);
  EXPECT_DOUBLE_EQ(m.tcp.gbps, 7);
}

TEST(TuningMedian, AnEvenCountTakesTheBetterOfTheMiddleTwo) {
  Tuning a = sample(1), b = sample(1);
  a.wakeUs = 2;
  b.wakeUs = 4;
  a.tcp.gbps = 3;
  b.tcp.gbps = 7;
  a.singleCopyGbps = 0;  // one sample found single copy forbidden: no half rate is invented
  b.singleCopyGbps = 10;
  const Tuning m = medianOf({a, b});
  EXPECT_DOUBLE_EQ(m.wakeUs, 2);       // a time: the lower
  EXPECT_DOUBLE_EQ(m.tcp.gbps, 7);     // a rate: the higher
  EXPECT_DOUBLE_EQ(m.singleCopyGbps, 10);
}

TEST(TuningMedian, ATimeNoSampleMeasuredDoesNotWinTheTie) {
  Tuning a = sample(1), b = sample(1), c = sample(1);
  a.tcp.exchangeUs = 0;  // not measured
  b.tcp.exchangeUs = 8;
  c.tcp.exchangeUs = 6;
  EXPECT_DOUBLE_EQ(medianOf({a, b}).tcp.exchangeUs, 8);
  EXPECT_DOUBLE_EQ(medianOf({a, b, c}).tcp.exchangeUs, 6);  // an odd count: the median
  b.tcp.exchangeUs = 0;
  EXPECT_DOUBLE_EQ(medianOf({a, b}).tcp.exchangeUs, 0);  // measured by none: still unknown
}

TEST(TuningMedian, UnmeasuredConstantsAndTheFingerprintComeFromTheNewest) {
  Tuning a = sample(1), b = sample(1);
  a.stepUs = 9;
  a.fingerprint = "old";
  b.stepUs = 0.15;
  b.opUs = 0.25;
  b.fingerprint = "new";
  Tuning m = medianOf({a, b});
  EXPECT_DOUBLE_EQ(m.stepUs, 0.15);
  EXPECT_DOUBLE_EQ(m.opUs, 0.25);
  EXPECT_EQ(m.fingerprint, "new");
}

TEST(TuningMedian, CurvesOfOtherSizesLeaveTheNewestsCurve) {
  Tuning a = sample(1), b = sample(2), c = sample(4);
  a.copyCurve = {{1 << 20, 40}};
  EXPECT_EQ(medianOf({a, b, c}).copyCurve, c.copyCurve);
}

TEST(TuningSamples, KeptBesideTheMedianAndReadBack) {
  const std::vector<Tuning> samples = {sample(1), sample(2), sample(1.5)};
  const Tuning merged = medianOf(samples);
  const std::string text = toJson(merged, samples, 5);
  auto top = fromJson(text);  // the file is still a tuning file: its median
  ASSERT_TRUE(top.isOk()) << top.status().message();
  expectScaledBy(top.value(), 1.5);
  int tried = 0;
  std::vector<Tuning> back;
  auto read = fromJson(text, &back, &tried);
  ASSERT_TRUE(read.isOk()) << read.status().message();
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(tried, 5);  // busy tries count, though not kept
  for (size_t i = 0; i < 3; ++i) {
    Tuning got = back[i];
    got.source = samples[i].source;
    EXPECT_EQ(got, samples[i]) << "sample " << i;
  }
}

TEST(TuningSamples, AFileWithoutSamplesIsOneSample) {
  int tried = 0;
  std::vector<Tuning> back;
  auto read = fromJson(toJson(sample(2)), &back, &tried);
  ASSERT_TRUE(read.isOk()) << read.status().message();
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(tried, 1);
  expectScaledBy(back[0], 2);
}

TEST(TuningSamples, ADamagedSampleIsNamed) {
  std::vector<Tuning> samples;
  auto bad = fromJson(R"({"samples": [{}, {"links": {"tcp": {"gbps": "fast"}}}]})", &samples);
  ASSERT_FALSE(bad.isOk());
  EXPECT_EQ(bad.status().code(), loomInvalidArgument);
  EXPECT_NE(bad.status().message().find("samples[1]: links.tcp.gbps"), std::string::npos) << bad.status().message();
  auto notArray = fromJson(R"({"samples": 3})", &samples);
  ASSERT_FALSE(notArray.isOk());
  EXPECT_NE(notArray.status().message().find("samples: expected an array"), std::string::npos);
  int tried = 0;
  auto badCount = fromJson(R"({"samples": [{}], "calibrations_tried": "many"})", &samples, &tried);
  ASSERT_FALSE(badCount.isOk());
  EXPECT_NE(badCount.status().message().find("calibrations_tried: expected a count"), std::string::npos);
  // Read as a tuning alone (rank 0's, sent at init), a file's samples are not looked at.
  EXPECT_TRUE(fromJson(R"({"samples": 3})").isOk());
}

}  // namespace
}  // namespace loom::cost

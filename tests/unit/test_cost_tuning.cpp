// The tuning file (tuning.cpp): its JSON round trip, errors that name the field, saving and
// loading, and the copy curve's interpolation and cache knee.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "cost/model.hpp"
#include "cost_test_support.hpp"

namespace loom::cost {
namespace {

using namespace testing_support;

// The copy curve: log-log interpolation held at its ends, and the knee where copies fall below
// half of the smallest working set's rate.
TEST(CostModel, CopyCurveInterpolatesAndFindsTheCacheKnee) {
  Tuning t = simple();
  EXPECT_EQ(curveGbps(t, 1 << 20), 0);
  EXPECT_EQ(cacheKneeBytes(t), 0);
  t.copyCurve = {{1 << 20, 40}, {4 << 20, 30}, {16 << 20, 10}, {64 << 20, 5}};
  EXPECT_DOUBLE_EQ(curveGbps(t, 1 << 10), 40);
  EXPECT_DOUBLE_EQ(curveGbps(t, 1 << 30), 5);
  EXPECT_NEAR(curveGbps(t, 8 << 20), std::sqrt(30.0 * 10.0), 1e-9);  // halfway in log size
  EXPECT_DOUBLE_EQ(cacheKneeBytes(t), 4 << 20);
}

TEST(Tuning, JsonRoundTrip) {
  Tuning t = simple();
  t.copyCurve = {{524288, 55.5}, {2097152, 33}, {134217728, 7.5}};
  t.fingerprint = "test cpu / 2 cpus";
  t.tcp.msgUs = 2.5;
  t.tcp.duplexGbps = 2.9;
  t.tcp.exchangeUs = 7.9;
  t.shm.recvReduceCachedGbps = 13;
  t.singleCopyCachedGbps = 17;
  t.singleCopyGbps = 9.5;
  t.singleCopyUs = 1.25;
  auto back = fromJson(toJson(t));
  ASSERT_TRUE(back.isOk()) << back.status().message();
  back.value().source = t.source;
  EXPECT_EQ(back.value(), t);
  // What only one link's calibration measures is written for that link (and for the other only
  // where set), so a file does not show a measured-looking 0.
  const auto links = nlohmann::json::parse(toJson(t)).at("links");
  EXPECT_FALSE(links.at("shm").contains("exchange_us"));
  EXPECT_FALSE(links.at("shm").contains("duplex_gbps"));
  EXPECT_FALSE(links.at("tcp").contains("recv_reduce_cached_gbps"));
  t.shm.exchangeUs = 1.5;
  t.tcp.recvReduceCachedGbps = 4;
  back = fromJson(toJson(t));
  ASSERT_TRUE(back.isOk());
  EXPECT_DOUBLE_EQ(back.value().shm.exchangeUs, 1.5);
  EXPECT_DOUBLE_EQ(back.value().tcp.recvReduceCachedGbps, 4);
}

TEST(Tuning, MalformedFilesNameTheField) {
  struct Case {
    const char* text;
    const char* expect;
  };
  const Case cases[] = {
      {"{", "not valid JSON"},
      {"[1]", "expected a JSON object"},
      {R"({"version": 2})", "version: expected 1"},
      {R"({"links": {"tcp": {"gbps": "fast"}}})", "links.tcp.gbps: expected a number"},
      {R"({"links": {"shm": {"alpha_us": -1}}})", "links.shm.alpha_us: expected a positive number"},
      {R"({"links": {"shm": 3}})", "links.shm: expected an object"},
      {R"({"links": {"tcp": {"msg_us": -2}}})", "links.tcp.msg_us: expected a positive number"},
      {R"({"links": {"tcp": {"duplex_gbps": "x"}}})", "links.tcp.duplex_gbps: expected a number"},
      {R"({"links": {"tcp": {"exchange_us": -1}}})", "links.tcp.exchange_us: expected a positive number"},
      {R"({"links": {"shm": {"recv_reduce_cached_gbps": "x"}}})", "links.shm.recv_reduce_cached_gbps: expected a number"},
      {R"({"single_copy_cached_gbps": "x"})", "single_copy_cached_gbps: expected a number"},
      {R"({"single_copy_gbps": []})", "single_copy_gbps: expected a number"},
      {R"({"single_copy_us": "1"})", "single_copy_us: expected a number"},
      {R"({"reduce_gbps": 0})", "reduce_gbps: expected a positive number"},
      {R"({"fingerprint": 7})", "fingerprint: expected a string"},
      {R"({"copy_curve": 3})", "copy_curve: expected an array"},
      {R"({"copy_curve": [[1, 2], [1, 3]]})", "copy_curve[1]: sizes must ascend"},
      {R"({"copy_curve": [[1, -2]]})", "copy_curve[0]: expected positive numbers"},
      {R"({"copy_curve": [[1, 2, 3]]})", "copy_curve[0]: expected [bytes, GB/s]"},
  };
  for (const auto& c : cases) {
    auto t = fromJson(c.text);
    ASSERT_FALSE(t.isOk()) << c.text;
    EXPECT_EQ(t.status().code(), loomInvalidArgument);
    EXPECT_NE(t.status().message().find(c.expect), std::string::npos) << c.text << " -> " << t.status().message();
  }
}

TEST(Tuning, FileSaveAndLoad) {
  std::string path = testing::TempDir() + "loom-tuning-test.json";
  Tuning t = simple();
  ASSERT_TRUE(saveFile(t, path).isOk());
  auto back = loadFile(path);
  ASSERT_TRUE(back.isOk());
  EXPECT_EQ(back->source, path);
  EXPECT_DOUBLE_EQ(back->tcp.gbps, 1.0);
  auto missing = loadFile(path + ".absent");
  ASSERT_FALSE(missing.isOk());
  EXPECT_NE(missing.status().message().find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace loom::cost

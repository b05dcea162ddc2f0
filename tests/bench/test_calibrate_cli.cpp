// `loom calibrate` end to end: the built tool measures, writes the median of its calibrations with
// the calibrations themselves, prints the table or the file, and refuses bad arguments (exit 2) and
// a path it cannot write (exit 3, naming it).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "subprocess.hpp"

namespace {

using loomtest::ProcResult;
using loomtest::runProcess;

constexpr double kTimeout = 240;  // two calibrations, busy ones taken again
// Sanitizers slow the measuring loops tenfold.
const std::string kLimit = "30";

std::string tempPath(const char* name) { return ::testing::TempDir() + name + std::to_string(getpid()); }

TEST(CalibrateCli, WritesTheMedianOfItsCalibrationsWithThem) {
  const std::string path = tempPath("loom-calibrate-cli-") + ".json";
  std::remove(path.c_str());
  // stdout alone: the JSON (progress lines go to stderr).
  ProcResult r = runProcess(
      {"/bin/sh", "-c", std::string(LOOM_TOOL) + " calibrate --times 2 --keep-busy --limit " + kLimit + " --json -o " + path + " 2>/dev/null"},
      {}, kTimeout);
  ASSERT_EQ(r.exitCode, 0) << r.output;
  auto printed = nlohmann::json::parse(r.output, nullptr, false);
  ASSERT_FALSE(printed.is_discarded()) << r.output;
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << "nothing written to " << path;
  auto file = nlohmann::json::parse(in, nullptr, false);
  EXPECT_EQ(printed, file);
  ASSERT_EQ(file["samples"].size(), 2u);
  // Written by hand: communicators measure no more (as after three of their own).
  EXPECT_EQ(file["calibrations_tried"].get<int>(), 3);
  // Two samples: each constant the better of theirs (a time the lower, a rate the higher). A time
  // of 0 (clamped noise: single_copy_us under a sanitizer) does not win: the other's stands.
  for (const char* key : {"wake_us", "single_copy_us"}) {
    const double a = file["samples"][0][key], b = file["samples"][1][key];
    EXPECT_DOUBLE_EQ(file[key].get<double>(), a > 0 && b > 0 ? std::min(a, b) : std::max(a, b)) << key;
  }
  const double a = file["samples"][0]["copy_gbps"], b = file["samples"][1]["copy_gbps"];
  EXPECT_DOUBLE_EQ(file["copy_gbps"].get<double>(), std::max(a, b));
  const double c = file["samples"][0]["links"]["tcp"]["gbps"], d = file["samples"][1]["links"]["tcp"]["gbps"];
  EXPECT_DOUBLE_EQ(file["links"]["tcp"]["gbps"].get<double>(), std::max(c, d));
  EXPECT_GT(file["links"]["shm"]["alpha_us"].get<double>(), 0);
  std::remove(path.c_str());
}

TEST(CalibrateCli, PrintsEveryConstantWithItsSpread) {
  const std::string path = tempPath("loom-calibrate-table-") + ".json";
  ProcResult r = runProcess({LOOM_TOOL, "calibrate", "--times", "2", "--keep-busy", "--limit", kLimit, "-o", path}, {}, kTimeout);
  ASSERT_EQ(r.exitCode, 0) << r.output;
  for (const char* s : {"median", "links.shm.alpha_us", "links.shm.recv_reduce_cached_gbps", "links.tcp.duplex_gbps",
                        "links.tcp.exchange_us", "wake_us",
                        "single_copy_gbps",
                        "copy_curve[0]", "calibration 2/2", "wrote "})
    EXPECT_NE(r.output.find(s), std::string::npos) << s << " missing from:\n" << r.output;
  EXPECT_NE(r.output.find(path), std::string::npos) << r.output;
  // Each row: the median (of two, one of them) between the least and the greatest.
  std::istringstream in(r.output);
  int rows = 0;
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::string name;
    double median = 0, lo = 0, hi = 0;
    if (line.rfind("  ", 0) != 0 || !(ls >> name >> median >> lo >> hi)) continue;
    ++rows;
    EXPECT_LE(lo, hi) << line;
    EXPECT_TRUE(median == lo || median == hi) << line;
  }
  EXPECT_GE(rows, 18) << r.output;
  // The constants only one of the two links measures: written, and measured.
  std::ifstream written(path);
  const auto j = nlohmann::json::parse(written, nullptr, false);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_GT(j["links"]["tcp"].value("exchange_us", 0.0), 0.0) << j.dump();
  EXPECT_GT(j["links"]["shm"].value("recv_reduce_cached_gbps", 0.0), 0.0) << j.dump();
  std::remove(path.c_str());
}

// --gap spreads the calibrations out: two of them 1.5 s apart take at least that much longer
// than the two measurements themselves (each printed as "calibration i/2: S s", to 0.1 s).
TEST(CalibrateCli, GapWaitsBetweenCalibrations) {
  const std::string path = tempPath("loom-calibrate-gap-") + ".json";
  const auto t0 = std::chrono::steady_clock::now();
  ProcResult r = runProcess({LOOM_TOOL, "calibrate", "--times", "2", "--gap", "1.5", "--keep-busy", "--limit", kLimit,
                             "-o", path},
                            {}, kTimeout);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.exitCode, 0) << r.output;
  double measuring = 0;
  int measured = 0;
  std::istringstream in(r.output);
  for (std::string line; std::getline(in, line);) {
    double seconds = 0;
    if (std::sscanf(line.c_str(), "calibration %*d/%*d: %lf s", &seconds) == 1) measuring += seconds, ++measured;
  }
  EXPECT_EQ(measured, 2) << r.output;
  EXPECT_GE(took, measuring - 2 * 0.05 + 1.5) << r.output;
  std::remove(path.c_str());
}

TEST(CalibrateCli, RefusesBadArgumentsAndAnUnwritablePath) {
  ProcResult zero = runProcess({LOOM_TOOL, "calibrate", "--times", "0"}, {}, kTimeout);
  EXPECT_EQ(zero.exitCode, 2) << zero.output;
  EXPECT_NE(zero.output.find("--times"), std::string::npos) << zero.output;
  ProcResult negative = runProcess({LOOM_TOOL, "calibrate", "--gap", "-1"}, {}, kTimeout);
  EXPECT_EQ(negative.exitCode, 2) << negative.output;
  EXPECT_NE(negative.output.find("--gap"), std::string::npos) << negative.output;
  // A directory below a plain file cannot be made: refused before any measuring.
  const std::string file = tempPath("loom-calibrate-file-");
  std::ofstream(file) << "x";
  const std::string path = file + "/sub/tuning.json";
  ProcResult r = runProcess({LOOM_TOOL, "calibrate", "--times", "1", "--keep-busy", "--limit", kLimit, "-o", path}, {}, kTimeout);
  EXPECT_EQ(r.exitCode, 3) << r.output;
  EXPECT_NE(r.output.find(file + "/sub"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("calibration 1/1"), std::string::npos) << r.output;
  std::remove(file.c_str());
}

}  // namespace

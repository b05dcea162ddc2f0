// `loom calibrate [--times N] [-o FILE] [--limit S] [--keep-busy] [--json]`: measures this host's cost-model
// constants afresh, N times, and keeps their median where communicators look for it (the host's
// cache, LOOM_TUNING_FILE, or -o FILE), replacing what was there.
#include "calibrate_cli.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <fmt/format.h>
#include <vector>

#include "core/calibrate.hpp"
#include "cost/tuning.hpp"

namespace loom::calibrate {

namespace {

void printTable(const cost::Tuning& median, const std::vector<cost::Tuning>& samples) {
  // Each sample's constants in the order forEachMeasured gives them.
  std::vector<std::vector<double>> values(samples.size());
  for (size_t i = 0; i < samples.size(); ++i)
    cost::forEachMeasured(samples[i], [&](const std::string&, const double& v, bool) { values[i].push_back(v); });
  fmt::print("# {:<24} {:>10} {:>10} {:>10}\n", "constant", "median", "min", "max");
  size_t k = 0;
  cost::forEachMeasured(median, [&](const std::string& name, const double& m, bool) {
    double lo = m, hi = m;
    for (const auto& v : values) {
      if (k >= v.size()) continue;  // a sample with a shorter copy curve
      lo = std::min(lo, v[k]);
      hi = std::max(hi, v[k]);
    }
    ++k;
    fmt::print("  {:<24} {:>10.3f} {:>10.3f} {:>10.3f}\n", name, m, lo, hi);
  });
}

// The file's directory exists (made if need be) and takes a new file.
Status checkWritable(const std::string& path) {
  std::error_code ec;
  const auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  const std::string probe = fmt::format("{}.{}.probe", path, getpid());
  if (!std::ofstream(probe)) return systemError(fmt::format("tuning file {}: cannot write there", path), errno);
  std::remove(probe.c_str());
  return {};
}

}  // namespace

int runCli(int argc, char** argv) {
  CLI::App app{"Measure this host's cost-model constants afresh (about 0.6 s each time) and keep their median where\n"
               "communicators look for it: -o FILE, else LOOM_TUNING_FILE, else this host's cache (replacing it).\n"
               "A measurement that other work slowed (the machine is busy) is left out and taken again.",
               "loom calibrate"};
  int times = 3;
  std::string output;
  double limit = 2;
  bool keepBusy = false, json = false;
  app.add_option("-t,--times", times, "calibrations to take the median of (1-9)")->check(CLI::Range(1, 9));
  app.add_option("-o,--output", output, "the tuning file to write");
  app.add_option("--limit", limit, "seconds one calibration may take before it is given up")->check(CLI::PositiveNumber);
  app.add_flag("--keep-busy", keepBusy, "keep measurements taken while other work held the cores");
  app.add_flag("--json", json, "print the tuning file written (its samples included) instead of the table");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  const std::string path = output.empty() ? core::tuningPath() : output;
  if (Status st = checkWritable(path); !st.isOk()) {  // before seconds of measuring, not after
    fmt::print(stderr, "loom calibrate: {}\n", st.message());
    return 3;
  }
  std::vector<cost::Tuning> samples;
  const int attempts = 2 * times;
  for (int attempt = 1; attempt <= attempts && static_cast<int>(samples.size()) < times; ++attempt) {
    fmt::print(stderr, "calibration {}/{}: ", samples.size() + 1, times);
    const auto t0 = std::chrono::steady_clock::now();
    auto t = core::calibrate(limit);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!t.isOk()) {
      fmt::print(stderr, "failed after {:.1f} s ({})\n", s, t.status().message());
      continue;
    }
    if (t->source == core::kCalibratedBusy && !keepBusy) {
      fmt::print(stderr, "{:.1f} s, the machine was busy: taken again\n", s);
      continue;
    }
    fmt::print(stderr, "{:.1f} s{}\n", s, t->source == core::kCalibratedBusy ? " (busy, kept)" : "");
    samples.push_back(std::move(t.value()));
  }
  if (samples.empty()) {
    fmt::print(stderr, "loom calibrate: no usable measurement in {} attempts (other work held the cores; "
                       "--keep-busy keeps such figures)\n", attempts);
    return 1;
  }
  cost::Tuning median = cost::medianOf(samples);
  median.source = "calibrated";
  if (static_cast<int>(samples.size()) < times)
    fmt::print(stderr, "loom calibrate: only {} of {} measurements were usable (the machine was busy)\n", samples.size(),
               times);
  // Counted as every calibration a host's cache tries: communicators measure no more.
  const int tried = std::max(static_cast<int>(core::kCalibrationsKept), static_cast<int>(samples.size()));
  if (Status st = cost::saveFile(median, path, samples, tried); !st.isOk()) {
    fmt::print(stderr, "loom calibrate: {}\n", st.message());
    return 3;
  }
  if (json) {
    fmt::print("{}", cost::toJson(median, samples, tried));
  } else {
    printTable(median, samples);
  }
  fmt::print(stderr, "wrote {} (the median of {} calibration{})\n", path, samples.size(), samples.size() > 1 ? "s" : "");
  return 0;
}

}  // namespace loom::calibrate

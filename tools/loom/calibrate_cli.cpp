// `loom calibrate [--times N] [--gap S] [-o FILE] [--limit S] [--keep-busy] [--json]`: measures this host's
// cost-model constants afresh, N times (S seconds apart), and keeps their median where communicators look
// for it (the host's cache, LOOM_TUNING_FILE, or -o FILE), replacing what was there.
#include "calibrate_cli.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <fmt/format.h>
#include <thread>
#include <vector>

#include "core/calibrate.hpp"
#include "cost/tuning.hpp"

namespace loom::calibrate {

namespace {

void printTable(const cost::Tuning& median, const std::vector<cost::Tuning>& samples) {
  const std::vector<std::vector<double>> columns = cost::measuredColumns(samples);
  fmt::print("# {:<24} {:>10} {:>10} {:>10}\n", "constant", "median", "min", "max");
  size_t k = 0;
  cost::forEachMeasured(median, [&](const std::string& name, const double& m, bool) {
    const auto [lo, hi] = std::minmax_element(columns[k].begin(), columns[k].end());
    ++k;
    fmt::print("  {:<24} {:>10.3f} {:>10.3f} {:>10.3f}\n", name, m, *lo, *hi);
  });
}

}  // namespace

int runCli(int argc, char** argv) {
  CLI::App app{"Measure this host's cost-model constants afresh (about 0.6 s each time) and keep their median where\n"
               "communicators look for it: -o FILE, else LOOM_TUNING_FILE, else this host's cache (replacing it).\n"
               "A measurement that other work slowed (the machine is busy) is left out and taken again.",
               "loom calibrate"};
  int times = 3;
  std::string output;
  double limit = 2, gap = 0;
  bool keepBusy = false, json = false;
  app.add_option("-t,--times", times, "calibrations to take the median of (1-9)")->check(CLI::Range(1, 9));
  // Back to back, one slow minute of a shared machine spoils every sample (loopback tcp measured
  // at half speed in two of three on the AMD VM); spread out, the median outvotes it.
  app.add_option("--gap", gap, "seconds to wait between calibrations (default 0)")->check(CLI::NonNegativeNumber);
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
  if (Status st = cost::checkSavable(path); !st.isOk()) {  // before seconds of measuring, not after
    fmt::print(stderr, "loom calibrate: {}\n", st.message());
    return 3;
  }
  std::vector<cost::Tuning> samples;
  const int attempts = 2 * times;
  for (int attempt = 1; attempt <= attempts && static_cast<int>(samples.size()) < times; ++attempt) {
    if (attempt > 1 && gap > 0) std::this_thread::sleep_for(std::chrono::duration<double>(gap));
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

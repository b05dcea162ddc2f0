// `loom calibrate [--times N] [-o FILE] [--limit S] [--keep-busy] [--json]`: measures this host's cost-model
// constants afresh, N times, and keeps their median where communicators look for it (the host's
// cache, LOOM_TUNING_FILE, or -o FILE), replacing what was there.
#include "calibrate_cli.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <fmt/format.h>
#include <functional>
#include <vector>

#include "core/calibrate.hpp"
#include "cost/tuning.hpp"

namespace loom::calibrate {

namespace {

struct Constant {
  const char* name;  // as in the tuning file
  std::function<double(const cost::Tuning&)> get;
};

const std::vector<Constant>& constants() {
  static const std::vector<Constant> all = {
      {"links.shm.alpha_us", [](const cost::Tuning& t) { return t.shm.alphaUs; }},
      {"links.shm.msg_us", [](const cost::Tuning& t) { return t.shm.msgUs; }},
      {"links.shm.gbps", [](const cost::Tuning& t) { return t.shm.gbps; }},
      {"links.shm.cached_gbps", [](const cost::Tuning& t) { return t.shm.cachedGbps; }},
      {"links.tcp.alpha_us", [](const cost::Tuning& t) { return t.tcp.alphaUs; }},
      {"links.tcp.msg_us", [](const cost::Tuning& t) { return t.tcp.msgUs; }},
      {"links.tcp.gbps", [](const cost::Tuning& t) { return t.tcp.gbps; }},
      {"links.tcp.cached_gbps", [](const cost::Tuning& t) { return t.tcp.cachedGbps; }},
      {"links.tcp.duplex_gbps", [](const cost::Tuning& t) { return t.tcp.duplexGbps; }},
      {"wake_us", [](const cost::Tuning& t) { return t.wakeUs; }},
      {"copy_gbps", [](const cost::Tuning& t) { return t.copyGbps; }},
      {"copy_cached_gbps", [](const cost::Tuning& t) { return t.copyCachedGbps; }},
      {"reduce_gbps", [](const cost::Tuning& t) { return t.reduceGbps; }},
      {"reduce_cached_gbps", [](const cost::Tuning& t) { return t.reduceCachedGbps; }},
      {"reduce_low_gbps", [](const cost::Tuning& t) { return t.reduceLowGbps; }},
      {"single_copy_gbps", [](const cost::Tuning& t) { return t.singleCopyGbps; }},
      {"single_copy_cached_gbps", [](const cost::Tuning& t) { return t.singleCopyCachedGbps; }},
      {"single_copy_us", [](const cost::Tuning& t) { return t.singleCopyUs; }},
  };
  return all;
}

void printTable(const cost::Tuning& median, const std::vector<cost::Tuning>& samples) {
  fmt::print("# {:<24} {:>10} {:>10} {:>10}\n", "constant", "median", "min", "max");
  for (const auto& c : constants()) {
    double lo = c.get(samples[0]), hi = lo;
    for (const auto& s : samples) {
      lo = std::min(lo, c.get(s));
      hi = std::max(hi, c.get(s));
    }
    fmt::print("  {:<24} {:>10.3f} {:>10.3f} {:>10.3f}\n", c.name, c.get(median), lo, hi);
  }
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
  if (Status st = cost::saveFile(median, path, samples); !st.isOk()) {
    fmt::print(stderr, "loom calibrate: {}\n", st.message());
    return 3;
  }
  if (json) {
    fmt::print("{}", cost::toJson(median, samples));
  } else {
    printTable(median, samples);
  }
  fmt::print(stderr, "wrote {} (the median of {} calibration{})\n", path, samples.size(), samples.size() > 1 ? "s" : "");
  return 0;
}

}  // namespace loom::calibrate

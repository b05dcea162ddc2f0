// Tuning constants: JSON with field-naming errors, the hardware fingerprint, the cache file.
#include "cost/tuning.hpp"

#include <fmt/format.h>
#include <loom/loom.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

namespace loom::cost {

using nlohmann::json;

namespace {
// Bump when the meaning of a constant or the way it is measured changes: caches measure again.
constexpr int kModelVersion = 18;  // 18: the reduce out of the ring timed in an exchange; 17: in-cache rates best of up to 50, a shm receive reducing out of the ring; 16: small tcp exchanges; 15: a single-copy read call cost (14: single-copy read rate beyond the caches; 13: tcp cubic; 12: duplex)
}  // namespace

std::string hardwareFingerprint() {
  std::string model = "unknown cpu";
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) model = line.substr(colon + 2);
      break;
    }
  }
  long memKb = 0;
  std::ifstream meminfo("/proc/meminfo");
  for (std::string key; meminfo >> key;) {
    if (key == "MemTotal:") {
      meminfo >> memKb;
      break;
    }
    meminfo.ignore(1 << 10, '\n');
  }
  return fmt::format("{} / {} cpus / {} GiB / loom {} / cost model {}", model, sysconf(_SC_NPROCESSORS_ONLN),
                     (memKb + (1 << 19)) >> 20, LOOM_VERSION_CODE, kModelVersion);
}

namespace {
// Calibration measures the duplex rate and the small exchange over tcp only, and the reduce out of
// the ring over shm only: the other link writes them only where a file set them (a 0 there read
// like a measured figure).
json linkJson(const LinkCost& l, bool tcp) {
  json j = {{"alpha_us", l.alphaUs}, {"gbps", l.gbps}, {"cached_gbps", l.cachedGbps}, {"msg_us", l.msgUs}};
  if (tcp || l.duplexGbps != 0) j["duplex_gbps"] = l.duplexGbps;
  if (tcp || l.exchangeUs != 0) j["exchange_us"] = l.exchangeUs;
  if (!tcp || l.recvReduceCachedGbps != 0) j["recv_reduce_cached_gbps"] = l.recvReduceCachedGbps;
  return j;
}
}  // namespace

namespace {
json tuningJson(const Tuning& t) {
  json j = {{"version", 1},
            {"fingerprint", t.fingerprint},
            {"links",
             {{"shm", linkJson(t.shm, false)}, {"tcp", linkJson(t.tcp, true)}}},
            {"copy_gbps", t.copyGbps},
            {"reduce_gbps", t.reduceGbps},
            {"reduce_low_gbps", t.reduceLowGbps},
            {"step_us", t.stepUs},
            {"wake_us", t.wakeUs},
            {"op_us", t.opUs},
            {"copy_cached_gbps", t.copyCachedGbps},
            {"reduce_cached_gbps", t.reduceCachedGbps},
            {"single_copy_cached_gbps", t.singleCopyCachedGbps},
            {"single_copy_gbps", t.singleCopyGbps},
            {"single_copy_us", t.singleCopyUs}};
  if (!t.copyCurve.empty()) j["copy_curve"] = t.copyCurve;
  return j;
}
}  // namespace

std::string toJson(const Tuning& t, const std::vector<Tuning>& samples, int tried) {
  json j = tuningJson(t);
  if (!samples.empty()) {
    j["samples"] = json::array();
    for (const Tuning& s : samples) j["samples"].push_back(tuningJson(s));
    j["calibrations_tried"] = std::max(tried, static_cast<int>(samples.size()));
  }
  return j.dump(2) + "\n";
}

double curveGbps(const Tuning& t, double bytes) {
  const auto& c = t.copyCurve;
  if (c.empty()) return 0;
  if (bytes <= c.front()[0]) return c.front()[1];
  if (bytes >= c.back()[0]) return c.back()[1];
  size_t i = 1;
  while (c[i][0] < bytes) ++i;
  const double f = std::log(bytes / c[i - 1][0]) / std::log(c[i][0] / c[i - 1][0]);
  return std::exp(std::log(c[i - 1][1]) + f * (std::log(c[i][1]) - std::log(c[i - 1][1])));
}

double cacheKneeBytes(const Tuning& t) {
  double knee = 0;
  for (const auto& p : t.copyCurve) {
    if (p[1] < 0.5 * t.copyCurve.front()[1]) break;
    knee = p[0];
  }
  return knee;
}

namespace {

// Reads a positive number at `path` inside `j` (missing keys keep the default).
Status readNumber(const json& j, const char* key, const std::string& path, double* out, bool allowZero = false) {
  auto it = j.find(key);
  if (it == j.end()) return {};
  if (!it->is_number()) return invalidArgument(fmt::format("{}{}: expected a number, got {}", path, key, it->dump()));
  double v = it->get<double>();
  if (!(v > 0 || (allowZero && v == 0)) || !std::isfinite(v))
    return invalidArgument(fmt::format("{}{}: expected a positive number, got {}", path, key, it->dump()));
  *out = v;
  return {};
}

Status readLink(const json& links, const char* name, LinkCost* out) {
  auto it = links.find(name);
  if (it == links.end()) return {};
  const std::string path = fmt::format("links.{}.", name);
  if (!it->is_object()) return invalidArgument(fmt::format("links.{}: expected an object", name));
  LOOM_TRY(readNumber(*it, "alpha_us", path, &out->alphaUs, true));
  LOOM_TRY(readNumber(*it, "cached_gbps", path, &out->cachedGbps, true));
  LOOM_TRY(readNumber(*it, "msg_us", path, &out->msgUs, true));
  LOOM_TRY(readNumber(*it, "duplex_gbps", path, &out->duplexGbps, true));
  LOOM_TRY(readNumber(*it, "exchange_us", path, &out->exchangeUs, true));
  LOOM_TRY(readNumber(*it, "recv_reduce_cached_gbps", path, &out->recvReduceCachedGbps, true));
  return readNumber(*it, "gbps", path, &out->gbps);
}

// "copy_curve": [[bytes, gbps], ...], bytes strictly ascending, every number positive.
Status readCurve(const json& j, std::vector<std::array<double, 2>>* out) {
  auto it = j.find("copy_curve");
  if (it == j.end()) return {};
  if (!it->is_array()) return invalidArgument("copy_curve: expected an array of [bytes, GB/s] pairs");
  for (size_t i = 0; i < it->size(); ++i) {
    const json& p = (*it)[i];
    if (!p.is_array() || p.size() != 2 || !p[0].is_number() || !p[1].is_number())
      return invalidArgument(fmt::format("copy_curve[{}]: expected [bytes, GB/s], got {}", i, p.dump()));
    const double bytes = p[0].get<double>(), gbps = p[1].get<double>();
    if (!(bytes > 0) || !(gbps > 0) || !std::isfinite(bytes) || !std::isfinite(gbps))
      return invalidArgument(fmt::format("copy_curve[{}]: expected positive numbers, got {}", i, p.dump()));
    if (!out->empty() && bytes <= out->back()[0])
      return invalidArgument(fmt::format("copy_curve[{}]: sizes must ascend, got {} after {}", i, bytes, out->back()[0]));
    out->push_back({bytes, gbps});
  }
  return {};
}

}  // namespace

namespace {
Result<Tuning> fromObject(const json& j) {
  if (!j.is_object()) return invalidArgument("tuning file: expected a JSON object");
  Tuning t;
  if (auto v = j.find("version"); v != j.end() && (!v->is_number_integer() || v->get<int>() != 1))
    return invalidArgument(fmt::format("version: expected 1, got {}", v->dump()));
  if (auto f = j.find("fingerprint"); f != j.end()) {
    if (!f->is_string()) return invalidArgument("fingerprint: expected a string");
    t.fingerprint = f->get<std::string>();
  }
  if (auto links = j.find("links"); links != j.end()) {
    if (!links->is_object()) return invalidArgument("links: expected an object");
    LOOM_TRY(readLink(*links, "shm", &t.shm));
    LOOM_TRY(readLink(*links, "tcp", &t.tcp));
  }
  LOOM_TRY(readNumber(j, "copy_gbps", "", &t.copyGbps));
  LOOM_TRY(readNumber(j, "reduce_gbps", "", &t.reduceGbps));
  LOOM_TRY(readNumber(j, "reduce_low_gbps", "", &t.reduceLowGbps));
  LOOM_TRY(readNumber(j, "step_us", "", &t.stepUs, true));
  LOOM_TRY(readNumber(j, "wake_us", "", &t.wakeUs, true));
  LOOM_TRY(readNumber(j, "op_us", "", &t.opUs, true));
  LOOM_TRY(readNumber(j, "copy_cached_gbps", "", &t.copyCachedGbps, true));
  LOOM_TRY(readNumber(j, "reduce_cached_gbps", "", &t.reduceCachedGbps, true));
  LOOM_TRY(readNumber(j, "single_copy_cached_gbps", "", &t.singleCopyCachedGbps, true));
  LOOM_TRY(readNumber(j, "single_copy_gbps", "", &t.singleCopyGbps, true));
  LOOM_TRY(readNumber(j, "single_copy_us", "", &t.singleCopyUs, true));
  LOOM_TRY(readCurve(j, &t.copyCurve));
  return t;
}
}  // namespace

namespace {
// The "samples" of a host's cache (the file itself as its one sample when it has none) and its
// "calibrations_tried" (at least the number of samples).
Status readSamples(const json& j, const Tuning& top, std::vector<Tuning>* samples, int* tried) {
  samples->clear();
  auto it = j.find("samples");
  if (it == j.end()) {
    samples->push_back(top);
  } else {
    if (!it->is_array()) return invalidArgument("samples: expected an array of tunings");
    for (size_t i = 0; i < it->size(); ++i) {
      auto t = fromObject((*it)[i]);
      if (!t.isOk()) return invalidArgument(fmt::format("samples[{}]: {}", i, t.status().message()));
      samples->push_back(std::move(t.value()));
    }
  }
  int n = static_cast<int>(samples->size());
  if (auto c = j.find("calibrations_tried"); c != j.end()) {
    if (!c->is_number_integer() || c->get<int>() < 0)
      return invalidArgument(fmt::format("calibrations_tried: expected a count, got {}", c->dump()));
    n = std::max(n, c->get<int>());
  }
  if (tried) *tried = n;
  return {};
}
}  // namespace

Result<Tuning> fromJson(std::string_view text, std::vector<Tuning>* samples, int* tried) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return invalidArgument("tuning file: not valid JSON");
  auto t = fromObject(j);
  if (t.isOk() && samples) LOOM_TRY(readSamples(j, t.value(), samples, tried));
  return t;
}

Result<Tuning> loadFile(const std::string& path, std::vector<Tuning>* samples, int* tried) {
  std::ifstream in(path);
  if (!in) return invalidArgument(fmt::format("tuning file {}: cannot open it", path));
  std::stringstream ss;
  ss << in.rdbuf();
  auto t = fromJson(ss.str(), samples, tried);
  if (!t.isOk()) return invalidArgument(fmt::format("tuning file {}: {}", path, t.status().message()));
  t.value().source = path;
  return t;
}

namespace {
void makeParentDir(const std::string& path) {
  std::error_code ec;  // a failure shows when the file is written
  const auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
}
}  // namespace

Status checkSavable(const std::string& path) {
  makeParentDir(path);
  const std::string probe = fmt::format("{}.{}.probe", path, getpid());
  if (!std::ofstream(probe)) return systemError(fmt::format("tuning file {}: cannot write there", path), errno);
  std::remove(probe.c_str());
  return {};
}

Status saveFile(const Tuning& t, const std::string& path, const std::vector<Tuning>& samples, int tried) {
  makeParentDir(path);
  // Unique per writer, threads of one process included (two communicators initialising at once).
  static std::atomic<unsigned> writes{0};
  std::string tmp = fmt::format("{}.{}.{}.tmp", path, getpid(), writes.fetch_add(1));
  {
    std::ofstream out(tmp);
    out << toJson(t, samples, tried);
    if (!out.flush()) return systemError(fmt::format("tuning file {}: cannot write", tmp), errno);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    return systemError(fmt::format("tuning file {}: cannot rename into place", path), err);
  }
  return {};
}

std::string defaultCachePath(const std::string& fingerprint) {
  std::string base;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) base = x;
  else if (const char* h = std::getenv("HOME"); h && *h) base = std::string(h) + "/.cache";
  else base = "/tmp";
  return fmt::format("{}/loom/tuning-{:016x}.json", base, std::hash<std::string>{}(fingerprint));
}

}  // namespace loom::cost

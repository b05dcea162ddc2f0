// The nccl-tests table and the JSON lines of `loom bench`. Column widths and number formats are
// nccl-tests' so that scripts written for its output read ours.
#include "bench_output.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "mem/reduce.hpp"

namespace loom::bench {

void computeBandwidth(Coll c, const Layout& l, int nranks, Half& h) {
  const double sec = h.timeUs * 1e-6;
  h.algbw = sec > 0 ? static_cast<double>(l.bytes) / 1e9 / sec : 0;
  h.busbw = h.algbw * busFactor(c, nranks);
}

Report::Report(const Options& o, int nranks, std::string transport, std::string algo)
    : o_(o), nranks_(nranks), transport_(std::move(transport)), algo_(std::move(algo)) {}

Report::~Report() {
  if (json_) std::fclose(json_);
}

bool Report::openJson() {
  if (o_.jsonFile.empty()) return true;
  json_ = std::fopen(o_.jsonFile.c_str(), "a");
  if (!json_) fmt::print(stderr, "loom bench: cannot open -J file '{}': {}\n", o_.jsonFile, std::strerror(errno));
  return json_ != nullptr;
}

void Report::preamble(const std::vector<RankInfo>& ranks) {
  int v = 0;
  loomGetVersion(&v);
  std::string names;
  for (Coll c : o_.colls) names += fmt::format("{}{}", names.empty() ? "" : " ", collName(c));
  fmt::print("# loom bench {}.{}.{}: {}\n", v / 10000, v / 100 % 100, v % 100, names);
  const std::string step = o_.stepFactor > 1 ? fmt::format("{:g}(factor)", o_.stepFactor)
                                             : fmt::format("{}(bytes)", o_.stepBytes);
  fmt::print("# nRanks {} minBytes {} maxBytes {} step: {} warmup iters: {} iters: {} validation: {} blocking: {} "
             "agg: {}\n",
             nranks_, o_.minBytes, o_.maxBytes, step, o_.warmup, o_.iters, o_.check ? 1 : 0, o_.blocking ? 1 : 0,
             aggName(o_.agg));
  fmt::print("# transport: {}  algo: {}  buffers: {}\n#\n# Using ranks\n", transport_, algo_,
             o_.loomMemory ? "loomMemAlloc (-R 1)" : "page-aligned (-R 0)");
  for (size_t r = 0; r < ranks.size(); ++r)
    fmt::print("#  Rank {:2} Pid {:6} on {:>10}\n", r, ranks[r].pid, ranks[r].host);
  std::fflush(stdout);
}

void Report::tableHeader(Coll c) {
  fmt::print("#\n# Collective: {}\n", collName(c));
  fmt::print("# {:>10}  {:>12}  {:>8}  {:>6}  {:>6}           out-of-place                        in-place\n", "",
             "", "", "", "");
  fmt::print("# {:>10}  {:>12}  {:>8}  {:>6}  {:>6}  {:>7}  {:>6}  {:>6}  {:>6}  {:>7}  {:>6}  {:>6}  {:>6}\n",
             "size", "count", "type", "redop", "root", "time", "algbw", "busbw", "#wrong", "time", "algbw", "busbw",
             fmt::format("#wrong{}", o_.explain ? "  predicted    algo  error" : ""));
  fmt::print("# {:>10}  {:>12}  {:>8}  {:>6}  {:>6}  {:>7}  {:>6}  {:>6}  {:>6}  {:>7}  {:>6}  {:>6}  {:>6}{}\n", "(B)",
             "(elements)", "", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)", "(GB/s)", "",
             o_.explain ? "       (us)           (%)" : "");
  std::fflush(stdout);
}

namespace {

std::string timeStr(double us) {  // nccl-tests keeps the column 7 wide at every magnitude
  if (us >= 10000.0) return fmt::format("{:7.0f}", us);
  if (us >= 100.0) return fmt::format("{:7.1f}", us);
  return fmt::format("{:7.2f}", us);
}

std::string halfStr(const Half& h, bool checked) {
  return fmt::format("  {}  {:6.2f}  {:6.2f}  {:>6}", timeStr(h.timeUs), h.algbw, h.busbw,
                     checked ? std::to_string(h.wrong) : std::string("N/A"));
}

nlohmann::ordered_json halfJson(const Half& h, bool checked) {
  nlohmann::ordered_json j;
  j["time_us"] = h.timeUs;
  j["algbw"] = h.algbw;
  j["busbw"] = h.busbw;
  j["wrong"] = checked ? h.wrong : 0;  // "check": 0 on the row says that nothing was checked
  return j;
}

}  // namespace

nlohmann::ordered_json Report::jsonHead(Coll c, const Layout& l, const char* type, const char* redop, int root,
                                        const char* algo) const {
  nlohmann::ordered_json j;
  j["tool"] = "loom-bench";
  j["collective"] = collName(c);
  j["nranks"] = nranks_;
  j["transport"] = transport_;
  if (algo) j["algo"] = algo;
  j["size"] = l.bytes;
  j["count"] = l.paramCount;
  j["type"] = type;
  j["redop"] = redop;
  j["root"] = root;
  return j;
}

void Report::writeJson(nlohmann::ordered_json& j) {
  j["iters"] = o_.iters;
  j["agg"] = aggName(o_.agg);
  j["check"] = o_.check ? 1 : 0;
  j["local_register"] = o_.loomMemory ? 1 : 0;
  fmt::print(json_, "{}\n", j.dump());
  std::fflush(json_);
}

void Report::row(const Row& r) {
  const char* redop = hasOp(r.coll) ? opName(r.op) : "none";
  const char* type = mem::typeName(r.type);
  std::string explained;
  if (r.predictedUs >= 0) {  // error against the out-of-place time, as the model predicts that call
    const double err = r.oop.timeUs > 0 ? 100.0 * (r.predictedUs - r.oop.timeUs) / r.oop.timeUs : 0;
    explained = fmt::format("    {}  {:>6}  {:+5.0f}", timeStr(r.predictedUs), r.predictedAlgo, err);
  }
  fmt::print("{:12}  {:12}  {:>8}  {:>6}  {:6}{}{}{}\n", r.layout.bytes, r.layout.paramCount, type, redop, r.root,
             halfStr(r.oop, o_.check), halfStr(r.ip, o_.check), explained);
  std::fflush(stdout);
  bwSum_ += r.oop.busbw + r.ip.busbw;
  bwCount_ += 2;
  wrong_ += r.oop.wrong + r.ip.wrong;
  if (perColl_.empty() || perColl_.back().coll != r.coll) perColl_.push_back({r.coll});
  perColl_.back().bwSum += r.oop.busbw + r.ip.busbw;
  perColl_.back().count += 2;
  if (!json_) return;
  nlohmann::ordered_json j = jsonHead(r.coll, r.layout, type, redop, r.root, algo_.c_str());
  j["oop"] = halfJson(r.oop, o_.check);
  j["ip"] = halfJson(r.ip, o_.check);
  if (r.predictedUs >= 0) {
    j["predicted_us"] = r.predictedUs;
    j["predicted_algo"] = r.predictedAlgo;
  }
  j["warmup"] = o_.warmup;
  writeJson(j);
}

void Report::raceHeader(Coll c) {
  fmt::print("#\n# Collective: {}  (out of place; each time the median of {} interleaved rounds)\n", collName(c),
             o_.rounds);
  std::string names;
  for (const auto& a : o_.algos) names += fmt::format("  {:>8}", a);
  const bool hasAuto = std::find(o_.algos.begin(), o_.algos.end(), "auto") != o_.algos.end();
  fmt::print("# {:>10}  {:>12}  {:>8}  {:>6}  {:>6}{}  {:>6}{}\n", "size", "count", "type", "redop", "root", names,
             "#wrong", hasAuto ? "  auto-algo      best  auto/best" : "");
  std::fflush(stdout);
}

void Report::raceRow(const RaceRow& r) {
  const char* redop = hasOp(r.coll) ? opName(r.op) : "none";
  const char* type = mem::typeName(r.type);
  std::string times;
  double autoUs = -1, bestUs = -1;
  std::string best;
  for (size_t k = 0; k < r.names.size(); ++k) {
    const double t = r.timesUs[k];
    times += t < 0 ? fmt::format("  {:>8}", "-") : fmt::format("  {:>8}", timeStr(t));
    if (t < 0) continue;
    if (r.names[k] == "auto") {
      autoUs = t;
    } else if (bestUs < 0 || t < bestUs) {
      bestUs = t;
      best = r.names[k];
    }
  }
  const bool ratio = autoUs > 0 && bestUs > 0;
  std::string tail;
  if (ratio) {
    tail = fmt::format("  {:>9}  {:>8}  {:9.2f}", r.autoAlgo, best, autoUs / bestUs);
    ++raceRows_;
    if (autoUs <= 1.10 * bestUs) ++raceAutoWithin10_;
  }
  fmt::print("{:12}  {:12}  {:>8}  {:>6}  {:6}{}  {:>6}{}\n", r.layout.bytes, r.layout.paramCount, type, redop,
             r.root, times, o_.check ? std::to_string(r.wrong) : std::string("N/A"), tail);
  std::fflush(stdout);
  wrong_ += r.wrong;
  if (!json_) return;
  nlohmann::ordered_json j = jsonHead(r.coll, r.layout, type, redop, r.root, nullptr);
  j["race"] = true;
  nlohmann::ordered_json t = nlohmann::ordered_json::object(), ran = nlohmann::ordered_json::object();
  for (size_t k = 0; k < r.names.size(); ++k) {
    if (r.timesUs[k] < 0) continue;  // sat the row out
    t[r.names[k]] = r.timesUs[k];
    ran[r.names[k]] = r.ranAlgos[k];
  }
  j["time_us"] = t;
  j["ran"] = ran;
  if (ratio) {
    j["auto_algo"] = r.autoAlgo;
    if (r.autoPredictedUs >= 0) j["auto_predicted_us"] = r.autoPredictedUs;
    j["best"] = best;
    j["auto_over_best"] = autoUs / bestUs;
  }
  j["wrong"] = o_.check ? r.wrong : 0;
  j["rounds"] = o_.rounds;
  writeJson(j);
}

uint64_t Report::footer() {
  const double avg = bwCount_ ? bwSum_ / static_cast<double>(bwCount_) : 0;
  fmt::print("# Out of bounds values : {} {}\n", wrong_, wrong_ ? "FAILED" : "OK");
  if (perColl_.size() > 1)
    for (const auto& p : perColl_)
      fmt::print("# {:<20} : {:g}\n", fmt::format("busbw {}", collName(p.coll)),
                 p.count ? p.bwSum / static_cast<double>(p.count) : 0.0);
  if (!o_.algos.empty()) {
    if (raceRows_)
      fmt::print("# auto within 10% of the best forced algorithm in {} of {} rows\n", raceAutoWithin10_, raceRows_);
  } else {
    fmt::print("# Avg bus bandwidth    : {:g}\n", avg);
  }
  fmt::print("#\n");
  std::fflush(stdout);
  if (json_) {
    nlohmann::ordered_json j;
    j["tool"] = "loom-bench";
    j["summary"] = true;
    j["avg_busbw"] = avg;
    j["wrong"] = wrong_;
    fmt::print(json_, "{}\n", j.dump());
    std::fflush(json_);
  }
  return wrong_;
}

}  // namespace loom::bench

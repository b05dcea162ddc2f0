// The --algos race of `loom bench` (bench_race.hpp).
#include "bench_race.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <optional>

namespace loom::bench {

namespace {

// Sets LOOM_ALGO for the contender `name` ("auto": unset) and restores the caller's value.
class AlgoEnv {
 public:
  explicit AlgoEnv(const std::string& name) {
    if (const char* v = std::getenv("LOOM_ALGO")) saved_ = v;
    if (name == "auto") unsetenv("LOOM_ALGO");
    else setenv("LOOM_ALGO", name.c_str(), 1);
  }
  ~AlgoEnv() {
    if (saved_) setenv("LOOM_ALGO", saved_->c_str(), 1);
    else unsetenv("LOOM_ALGO");
  }
  AlgoEnv(const AlgoEnv&) = delete;
  AlgoEnv& operator=(const AlgoEnv&) = delete;

 private:
  std::optional<std::string> saved_;
};

// Options validated every name (resolveAlgos).
algo::Algo parsed(const std::string& name) {
  algo::Algo a = algo::Algo::Auto;
  if (name != "auto") algo::parseAlgo(name, &a);
  return a;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

bool Contender::runs(Coll coll) const {
  if (algo == algo::Algo::Auto) return true;
  auto lc = libraryColl(coll);
  return lc && algo::implements(algo, *lc);
}

bool splitContenders(loomComm_t world, const Options& o, std::vector<Contender>* out) {
  int rank = 0;
  loomCommUserRank(world, &rank);
  for (const auto& name : o.algos) {
    Contender k{name, parsed(name), nullptr};
    loomResult_t r;
    {
      AlgoEnv env(name);
      r = loomCommSplit(world, 0, rank, &k.comm);
    }
    if (r != loomSuccess) {
      fmt::print(stderr, "loom bench: creating the communicator for --algos {}: {}\n", name, loomGetLastError(world));
      destroyContenders(*out);
      return false;
    }
    out->push_back(k);
  }
  return true;
}

bool initContenders(int nranks, const Options& o, std::vector<std::vector<Contender>>* out) {
  out->assign(static_cast<size_t>(nranks), {});
  for (const auto& name : o.algos) {
    std::vector<loomComm_t> comms(static_cast<size_t>(nranks), nullptr);
    loomResult_t r;
    {
      AlgoEnv env(name);
      r = loomCommInitAll(comms.data(), nranks);
    }
    if (r != loomSuccess) {
      fmt::print(stderr, "loom bench: creating the communicators for --algos {}: {}\n", name, loomGetLastError(nullptr));
      for (auto& cs : *out) destroyContenders(cs);
      return false;
    }
    for (int rk = 0; rk < nranks; ++rk) (*out)[rk].push_back({name, parsed(name), comms[rk]});
  }
  return true;
}

void destroyContenders(std::vector<Contender>& cs) {
  for (auto& k : cs) loomCommDestroy(k.comm);
  cs.clear();
}

void raceRow(const Ctx& c, const std::vector<Contender>& cs, CollRun& run, const std::string& what, RaceRow& row) {
  std::vector<std::vector<double>> times(cs.size());
  // What each contender's communicator runs (LOOM_ALGO honoured). A forced algorithm that falls
  // back to the automatic choice here (the board over TCP or past its entry size) sits the row
  // out: it would race auto's own choice under another name.
  std::vector<Row> probes(cs.size(), Row{row.coll, row.layout, row.type, row.op, row.root, {}, {}, -1, {}});
  std::vector<bool> races(cs.size(), false);
  for (size_t k = 0; k < cs.size(); ++k) {
    if (!cs[k].runs(row.coll)) continue;
    explain(cs[k].comm, probes[k]);
    races[k] = cs[k].algo == algo::Algo::Auto || probes[k].predictedAlgo.empty() || probes[k].predictedAlgo == cs[k].name;
  }
  for (int round = 0; round < c.o.rounds; ++round) {
    // Rotate the order each round: whoever runs first after a size change pays for cold caches.
    for (size_t i = 0; i < cs.size(); ++i) {
      const size_t k = (i + static_cast<size_t>(round)) % cs.size();
      if (!races[k]) continue;
      Ctx kc{cs[k].comm, c.o, c.rank, c.nranks, c.corrupt};
      run.setComm(cs[k].comm);
      Half h = measure(kc, run, false, c.o.check && round == 0, fmt::format("{} ({})", what, cs[k].name));
      times[k].push_back(h.timeUs);
      row.wrong += h.wrong;
    }
  }
  row.names.clear();
  row.timesUs.clear();
  row.ranAlgos.clear();
  for (size_t k = 0; k < cs.size(); ++k) {
    row.names.push_back(cs[k].name);
    row.timesUs.push_back(times[k].empty() ? -1 : median(times[k]));
    row.ranAlgos.push_back(times[k].empty() ? std::string{} : probes[k].predictedAlgo);
    if (cs[k].algo == algo::Algo::Auto) {
      row.autoAlgo = probes[k].predictedAlgo;
      row.autoPredictedUs = probes[k].predictedUs;
    }
  }
}

}  // namespace loom::bench

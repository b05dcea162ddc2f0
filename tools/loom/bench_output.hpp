// What rank 0 of `loom bench` prints: the nccl-tests table (flushed row by row, so a long sweep
// shows progress) and, with -J, one JSON line per row in the format of /work/notes/bench_json.md
// (docs/bench.md).
#pragma once

#include <loom/loom.h>

#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_coll.hpp"
#include "bench_options.hpp"

namespace loom::bench {

struct Half {  // one of the out-of-place / in-place column groups
  double timeUs = 0, algbw = 0, busbw = 0;
  uint64_t wrong = 0;
};

struct Row {
  Coll coll;
  Layout layout;
  loomDataType_t type;
  loomRedOp_t op;  // ignored when the collective has none
  int root;        // -1 when it has none
  Half oop, ip;
  double predictedUs = -1;  // --explain: loomEstimate of the call, and its algorithm
  std::string predictedAlgo;
};

// One --algos row: the median time of each contender (-1 where its algorithm does not implement
// the collective), out of place.
struct RaceRow {
  Coll coll;
  Layout layout;
  loomDataType_t type;
  loomRedOp_t op;
  int root;
  std::vector<std::string> names;
  std::vector<double> timesUs;
  std::vector<std::string> ranAlgos;  // the algorithm each contender's communicator ran ("" if none)
  uint64_t wrong = 0;
  std::string autoAlgo;      // what the "auto" contender's cost model picks, if one races
  double autoPredictedUs = -1;  // and its predicted time per call in a loop
};

struct RankInfo {
  int pid = 0;
  std::string host;
};

// Fills algbw and busbw from the time, as nccl-tests: algbw = size / time in 1e9 B/s.
void computeBandwidth(Coll c, const Layout& l, int nranks, Half& h);

class Report {
 public:
  Report(const Options& o, int nranks, std::string transport, std::string algo);
  ~Report();
  // Opens the JSON file for appending; false (with a message on stderr) when it cannot.
  bool openJson();
  void preamble(const std::vector<RankInfo>& ranks);
  void tableHeader(Coll c);
  void row(const Row& r);
  void raceHeader(Coll c);
  void raceRow(const RaceRow& r);
  // The nccl-tests footer; returns the total number of wrong elements.
  uint64_t footer();

 private:
  // The fields every JSON line of a row starts with (`algo` null: none).
  nlohmann::ordered_json jsonHead(Coll c, const Layout& l, const char* type, const char* redop, int root,
                                  const char* algo) const;
  // Adds the fields every row ends with and writes the line.
  void writeJson(nlohmann::ordered_json& j);

  const Options& o_;
  int nranks_;
  std::string transport_, algo_;
  std::FILE* json_ = nullptr;
  double bwSum_ = 0;
  long bwCount_ = 0;
  uint64_t wrong_ = 0;
  struct PerColl {
    Coll coll;
    double bwSum = 0;
    long count = 0;
  };
  std::vector<PerColl> perColl_;
  long raceRows_ = 0, raceAutoWithin10_ = 0;  // --algos: rows, and rows where auto is within 10% of the best
};

}  // namespace loom::bench

// `loom bench --algos auto,ring,tree`: the listed algorithms race in one run. Each has its own
// communicator (created with LOOM_ALGO set to it), and every row times them in interleaved rounds
// over the same buffers, so that a noisy machine slows them alike; the median of each is printed
// beside the others and auto / best. Timing them in separate runs, minutes apart, measured the
// machine's drift as much as the algorithms.
#pragma once

#include <loom/loom.h>

#include <string>
#include <vector>

#include "bench_coll.hpp"
#include "bench_measure.hpp"
#include "bench_output.hpp"

namespace loom::bench {

struct Contender {
  std::string name;                // "auto" or an algorithm
  algo::Algo algo = algo::Algo::Auto;  // parsed from name
  loomComm_t comm = nullptr;
  // Whether it runs `coll` (a forced algorithm that does not implement it sits the row out).
  bool runs(Coll coll) const;
};

// Contenders for o.algos, split from `world` (every rank calls this, as loomCommSplit). LOOM_ALGO
// is set around each split, so call it before any other thread reads the environment. Returns
// false (with a message) when one cannot be created.
bool splitContenders(loomComm_t world, const Options& o, std::vector<Contender>* out);

// The same for ranks as threads of one process: one loomCommInitAll per contender; out[r] are
// rank r's contenders.
bool initContenders(int nranks, const Options& o, std::vector<std::vector<Contender>>* out);

void destroyContenders(std::vector<Contender>& cs);

// Times one row on every contender that implements the collective; rank 0's report prints it.
void raceRow(const Ctx& c, const std::vector<Contender>& cs, CollRun& run, const std::string& what, RaceRow& row);

}  // namespace loom::bench

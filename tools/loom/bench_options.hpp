// `loom bench` options: the nccl-tests flags, parsed with CLI11 into plain values.
#pragma once

#include <loom/loom.h>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "bench_coll.hpp"

namespace loom::bench {

// How per-rank times are combined (-a), numbered as nccl-tests.
enum class Agg { Rank0 = 0, Avg = 1, Min = 2, Max = 3 };
const char* aggName(Agg a);

struct Options {
  std::vector<Coll> colls;
  size_t minBytes = 32u << 20, maxBytes = 32u << 20;
  size_t stepBytes = 1u << 20;  // -i, used when the factor is 1
  double stepFactor = 1;        // -f
  int iters = 20, warmup = 1;
  bool check = true;
  bool blocking = false;
  std::vector<loomRedOp_t> ops{loomSum};
  std::vector<loomDataType_t> types{loomFloat32};
  int root = 0;  // -1: every root
  Agg agg = Agg::Avg;
  std::string jsonFile;
  std::string algo;
  std::vector<std::string> algos;  // --algos: race these (bare algorithm names or "auto") in one run
  int rounds = 5;                  // --rounds: interleaved rounds per --algos row (the median is kept)
  bool loomMemory = false;  // -R 1: buffers from loomMemAlloc
  bool explain = false;  // print the cost model's prediction beside each measurement
  int threads = 0;  // -g: ranks as threads of this process (0: not asked)
};

struct ParseOutcome {
  std::optional<Options> options;  // set when the benchmark should run
  int exitCode = 0;                // otherwise: 0 after --help, 2 after a bad flag
};

ParseOutcome parseOptions(int argc, char** argv);

// "8", "64K", "1M", "2G" (powers of 1024, as nccl-tests); nullopt when malformed.
std::optional<size_t> parseBytes(const std::string& s);

// min, then *factor (factor > 1) or +step, while <= max; as nccl-tests' loop.
std::vector<size_t> sizeSweep(const Options& o);

const char* opName(loomRedOp_t op);

}  // namespace loom::bench

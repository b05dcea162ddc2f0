// Command line of `loom bench`: the nccl-tests flags (same letters, same long names, same
// defaults), plus --algo and -g for ranks as threads. Bad input exits 2 with a message that names
// the flag.
#include "bench_options.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "algo/algorithms.hpp"
#include "mem/reduce.hpp"

namespace loom::bench {

const char* aggName(Agg a) {
  switch (a) {
    case Agg::Rank0: return "rank0";
    case Agg::Avg: return "avg";
    case Agg::Min: return "min";
    case Agg::Max: return "max";
  }
  return "?";
}

const char* opName(loomRedOp_t op) {
  switch (op) {
    case loomSum: return "sum";
    case loomProd: return "prod";
    case loomMax: return "max";
    case loomMin: return "min";
    case loomAvg: return "avg";
    default: return "?";
  }
}

std::optional<size_t> parseBytes(const std::string& s) {
  if (s.empty() || !std::isdigit(static_cast<unsigned char>(s[0]))) return std::nullopt;
  size_t pos = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(s, &pos);
  } catch (...) {
    return std::nullopt;
  }
  std::string suffix = s.substr(pos);
  if (suffix.size() == 2 && (suffix[1] == 'B' || suffix[1] == 'b')) suffix.pop_back();  // "64KB"
  int shift = 0;
  if (suffix.empty()) shift = 0;
  else if (suffix.size() == 1 && std::strchr("kK", suffix[0])) shift = 10;
  else if (suffix.size() == 1 && std::strchr("mM", suffix[0])) shift = 20;
  else if (suffix.size() == 1 && std::strchr("gG", suffix[0])) shift = 30;
  else return std::nullopt;
  if (v > (~0ull >> shift)) return std::nullopt;
  return static_cast<size_t>(v << shift);
}

std::vector<size_t> sizeSweep(const Options& o) {
  std::vector<size_t> out;
  for (size_t s = o.minBytes; s <= o.maxBytes;) {
    out.push_back(s);
    size_t next = o.stepFactor > 1 ? static_cast<size_t>(std::floor(static_cast<double>(s) * o.stepFactor))
                                   : s + o.stepBytes;
    if (next <= s) break;  // overflow, or a factor too small to move
    s = next;
  }
  return out;
}

namespace {

std::vector<std::string> splitList(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::optional<loomDataType_t> parseType(const std::string& s) {
  static const std::pair<const char*, loomDataType_t> aliases[] = {
      {"char", loomInt8},       {"int", loomInt32},        {"float16", loomFloat16}, {"fp16", loomFloat16},
      {"float32", loomFloat32}, {"fp32", loomFloat32},     {"float64", loomFloat64}, {"fp64", loomFloat64},
      {"bf16", loomBfloat16},   {"e4m3", loomFloat8e4m3},  {"e5m2", loomFloat8e5m2}};
  for (int t = 0; t < loomNumTypes; ++t)
    if (s == mem::typeName(static_cast<loomDataType_t>(t))) return static_cast<loomDataType_t>(t);
  for (const auto& [name, t] : aliases)
    if (s == name) return t;
  return std::nullopt;
}

std::optional<loomRedOp_t> parseOp(const std::string& s) {
  for (int op = 0; op < loomNumOps; ++op)
    if (s == opName(static_cast<loomRedOp_t>(op))) return static_cast<loomRedOp_t>(op);
  return std::nullopt;
}

// Fills o from the raw strings; returns an error message or "".
std::string resolve(Options& o, const std::string& colls, const std::string& minB, const std::string& maxB,
                    const std::string& stepB, const std::string& ops, const std::string& types,
                    const std::string& root, int agg) {
  o.colls.clear();
  for (const auto& c : splitList(colls)) {
    if (c == "all") {
      o.colls.assign(std::begin(kAllColls), std::end(kAllColls));
    } else if (auto p = parseColl(c)) {
      o.colls.push_back(*p);
    } else {
      return fmt::format("unknown collective '{}' (allreduce, allgather, reducescatter, broadcast, reduce, "
                         "alltoall, gather, scatter, sendrecv or all)", c);
    }
  }
  if (o.colls.empty()) return "no collective given";
  auto b = parseBytes(minB), e = parseBytes(maxB), i = parseBytes(stepB);
  if (!b) return fmt::format("-b/--minbytes: '{}' is not a byte count (e.g. 8, 64K, 1M, 2G)", minB);
  if (!e) return fmt::format("-e/--maxbytes: '{}' is not a byte count (e.g. 8, 64K, 1M, 2G)", maxB);
  if (!i) return fmt::format("-i/--stepbytes: '{}' is not a byte count (e.g. 8, 64K, 1M, 2G)", stepB);
  o.minBytes = *b, o.maxBytes = *e, o.stepBytes = *i;
  if (o.minBytes > o.maxBytes) return fmt::format("-b {} is larger than -e {}", minB, maxB);
  if (o.stepFactor < 1) return "-f/--stepfactor must be at least 1";
  if (o.stepFactor > 1 && o.minBytes == 0) return "-b must be at least 1 with -f above 1";
  if (o.stepFactor == 1 && o.stepBytes == 0 && o.minBytes < o.maxBytes) return "-i/--stepbytes must be above 0";
  o.ops.clear();
  for (const auto& s : splitList(ops)) {
    if (s == "all") {
      for (int op = 0; op < loomNumOps; ++op) o.ops.push_back(static_cast<loomRedOp_t>(op));
    } else if (auto p = parseOp(s)) {
      o.ops.push_back(*p);
    } else {
      return fmt::format("-o/--op: unknown op '{}' (sum, prod, max, min, avg or all)", s);
    }
  }
  if (o.ops.empty()) return "-o/--op: no op given";
  o.types.clear();
  for (const auto& s : splitList(types)) {
    if (s == "all") {
      for (int t = 0; t < loomNumTypes; ++t) o.types.push_back(static_cast<loomDataType_t>(t));
    } else if (auto p = parseType(s)) {
      o.types.push_back(*p);
    } else {
      return fmt::format("-d/--datatype: unknown type '{}' (int8, uint8, int32, uint32, int64, uint64, half, float, "
                         "double, bfloat16, f8e4m3, f8e5m2 or all)", s);
    }
  }
  if (o.types.empty()) return "-d/--datatype: no type given";
  if (root == "all") {
    o.root = -1;
  } else {
    try {
      size_t pos = 0;
      o.root = std::stoi(root, &pos);
      if (pos != root.size() || o.root < 0) throw std::invalid_argument(root);
    } catch (...) {
      return fmt::format("-r/--root: '{}' is not a rank or 'all'", root);
    }
  }
  o.agg = static_cast<Agg>(agg);
  return "";
}

// --algos: "auto" or algorithm names, each once; not with --algo, which forces one for all.
std::string resolveAlgos(Options& o, const std::string& algos) {
  if (algos.empty()) return "";
  if (!o.algo.empty()) return "--algos races algorithms and --algo forces one: give one of them";
  for (const auto& s : splitList(algos)) {
    algo::Algo a;
    if (s != "auto" && (!algo::parseAlgo(s, &a) || a == algo::Algo::Auto))
      return fmt::format("--algos: unknown algorithm '{}' (auto, ring, rhd, tree, direct, hier, board)", s);
    if (std::find(o.algos.begin(), o.algos.end(), s) != o.algos.end())
      return fmt::format("--algos: '{}' is listed twice", s);
    o.algos.push_back(s);
  }
  return "";
}

}  // namespace

ParseOutcome parseOptions(int argc, char** argv) {
  Options o;
  std::string colls, minB = "32M", maxB = "32M", stepB = "1M", ops = "sum", types = "float", root = "0";
  int check = 1, blocking = 0, agg = 1;
  CLI::App app{"Times collectives like nccl-tests and checks their results. Run under loomrun "
               "(loomrun -n 4 loom bench allreduce) or any launcher; without one, -g N runs N ranks as threads.",
               "loom bench"};
  app.add_option("collective", colls,
                 "allreduce, allgather, reducescatter, broadcast, reduce, alltoall, gather, scatter, sendrecv, "
                 "a comma list, or all")
      ->required();
  app.add_option("-b,--minbytes", minB, "smallest size in bytes (K, M, G suffixes)")->capture_default_str();
  app.add_option("-e,--maxbytes", maxB, "largest size in bytes")->capture_default_str();
  app.add_option("-f,--stepfactor", o.stepFactor, "multiply the size by this between rows")->capture_default_str();
  app.add_option("-i,--stepbytes", stepB, "add this to the size between rows (when -f is 1)")->capture_default_str();
  app.add_option("-n,--iters", o.iters, "timed iterations")->capture_default_str()->check(CLI::Range(1, 1 << 30));
  app.add_option("-w,--warmup_iters", o.warmup, "untimed warm-up iterations")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 30));
  app.add_option("-c,--check", check, "check results (one extra iteration with known inputs): 0 or 1")
      ->capture_default_str()
      ->check(CLI::Range(0, 1));
  app.add_option("-o,--op", ops, "sum, prod, max, min, avg, a comma list, or all")->capture_default_str();
  app.add_option("-d,--datatype", types,
                 "int8, uint8, int32, uint32, int64, uint64, half, float, double, bfloat16, f8e4m3, f8e5m2, "
                 "a comma list, or all")
      ->capture_default_str();
  app.add_option("-r,--root", root, "root rank of broadcast, reduce, gather, scatter, or all")->capture_default_str();
  app.add_option("-a,--average", agg, "time across ranks: 0 rank 0, 1 average, 2 minimum, 3 maximum")
      ->capture_default_str()
      ->check(CLI::Range(0, 3));
  app.add_option("-z,--blocking", blocking,
                 "0: issue the iterations as nonblocking requests, then wait; 1: blocking calls")
      ->capture_default_str()
      ->check(CLI::Range(0, 1));
  int registered = 0;
  app.add_option("-R,--local_register", registered,
                 "0: plain page-aligned buffers; 1: buffers from loomMemAlloc (huge pages), as nccl-tests' -R 1 "
                 "allocates with ncclMemAlloc")
      ->capture_default_str()
      ->check(CLI::Range(0, 1));
  app.add_option("-J,--output_file", o.jsonFile, "append JSON lines (one per row) to this file");
  app.add_flag("--explain", o.explain, "print the cost model's predicted time and algorithm beside each measurement");
  app.add_option("--algo", o.algo, "force algorithms: sets LOOM_ALGO (e.g. ring, tree, 'allreduce:0-64K=tree')");
  std::string algos;
  app.add_option("--algos", algos,
                 "race algorithms in one run, e.g. 'auto,ring,tree,rhd': one communicator each, timed in "
                 "interleaved rounds; prints each median and auto / best");
  app.add_option("--rounds", o.rounds, "interleaved rounds per --algos row (the median is printed)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("-g,--nranks", o.threads,
                 "without a launcher: run this many ranks as threads of this process (default 1)")
      ->check(CLI::Range(1, 1024));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    std::fputs(app.help().c_str(), stdout);
    return {std::nullopt, 0};
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "loom bench: {}\nRun 'loom bench --help' for the flags.\n", e.what());
    return {std::nullopt, 2};
  }
  std::string err = resolve(o, colls, minB, maxB, stepB, ops, types, root, agg);
  if (err.empty()) err = resolveAlgos(o, algos);
  if (!err.empty()) {
    fmt::print(stderr, "loom bench: {}\nRun 'loom bench --help' for the flags.\n", err);
    return {std::nullopt, 2};
  }
  o.check = check == 1;
  o.blocking = blocking == 1;
  o.loomMemory = registered == 1;
  return {std::move(o), 0};
}

}  // namespace loom::bench

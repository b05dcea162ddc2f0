// Shared by the reference programs (mpi_bench, gloo_bench): nccl-tests flags, size/count
// semantics, bus-bandwidth factors, data fill/check and the JSON-lines record that `loom bench`
// also writes (docs: notes/bench_json.md, docs/performance.md). Keeping one copy of these rules is
// what makes the loom/peer ratios in bench/compare comparable.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace peers {

enum class Coll { AllReduce, AllGather, ReduceScatter, Broadcast, AllToAll };
inline const char* const kCollNames[] = {"allreduce", "allgather", "reducescatter", "broadcast", "alltoall"};

struct Options {
  std::vector<Coll> colls;
  size_t minBytes = 32 * 1024 * 1024, maxBytes = 32 * 1024 * 1024;
  double factor = 1;  // >1: multiply; otherwise add `increment`
  size_t increment = 0;
  int iters = 20, warmup = 5, check = 1, agg = 1, root = 0, blocking = 0;
  int loomMemory = 0;  // -R 1: buffers from loomMemAlloc (peer_buffer.hpp)
  std::string type = "float", op = "sum", json, algo = "default", transport = "unknown";
  int np = 0;           // gloo_bench: ranks to fork
  int timeoutSec = 600;  // gloo_bench: whole-job limit
};

inline size_t parseBytes(const char* s) {
  char* end = nullptr;
  double v = std::strtod(s, &end);
  size_t mul = 1;
  switch (end && *end ? *end : 0) {
    case 'K': case 'k': mul = 1ull << 10; break;
    case 'M': case 'm': mul = 1ull << 20; break;
    case 'G': case 'g': mul = 1ull << 30; break;
    default: break;
  }
  return static_cast<size_t>(v * static_cast<double>(mul));
}

[[noreturn]] inline void usage(const char* prog, const char* why) {
  if (why) std::fprintf(stderr, "%s: %s\n", prog, why);
  std::fprintf(stderr,
               "usage: %s COLLECTIVE|all [-b min] [-e max] [-f factor | -i incr] [-n iters] [-w warmup]\n"
               "       [-c 0|1] [-o sum] [-d float] [-r root] [-a 0|1|2|3] [-z 0|1] [-R 0|1] [-J file]\n"
               "       [--algo NAME] [--transport LABEL] [--np N] [--timeout S]\n"
               "collectives: allreduce allgather reducescatter broadcast alltoall\n",
               prog);
  std::exit(why ? 2 : 0);
}

inline Options parseOptions(int argc, char** argv) {
  Options o;
  const char* prog = argv[0];
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) usage(prog, ("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "-h" || a == "--help") usage(prog, nullptr);
    else if (a == "-b") o.minBytes = parseBytes(next());
    else if (a == "-e") o.maxBytes = parseBytes(next());
    else if (a == "-f") o.factor = std::atof(next());
    else if (a == "-i") { o.increment = parseBytes(next()); o.factor = 1; }
    else if (a == "-n") o.iters = std::atoi(next());
    else if (a == "-w") o.warmup = std::atoi(next());
    else if (a == "-c") o.check = std::atoi(next());
    else if (a == "-o") o.op = next();
    else if (a == "-d") o.type = next();
    else if (a == "-r") o.root = std::atoi(next());
    else if (a == "-a") o.agg = std::atoi(next());
    else if (a == "-z") o.blocking = std::atoi(next());
    else if (a == "-R" || a == "--local_register") o.loomMemory = std::atoi(next());
    else if (a == "-J") o.json = next();
    else if (a == "--algo") o.algo = next();
    else if (a == "--transport") o.transport = next();
    else if (a == "--np") o.np = std::atoi(next());
    else if (a == "--timeout") o.timeoutSec = std::atoi(next());
    else if (!a.empty() && a[0] != '-') {
      for (size_t start = 0; start <= a.size();) {  // a name, a comma list, or all
        size_t end = a.find(',', start);
        if (end == std::string::npos) end = a.size();
        std::string name = a.substr(start, end - start);
        bool found = false;
        for (int c = 0; c < 5; ++c)
          if (name == "all" || name == kCollNames[c]) { o.colls.push_back(static_cast<Coll>(c)); found = true; }
        if (!found) usage(prog, ("unknown collective " + name).c_str());
        start = end + 1;
      }
    } else {
      usage(prog, ("unknown option " + a).c_str());
    }
  }
  if (o.colls.empty()) usage(prog, "no collective given");
  if (o.type != "float") usage(prog, "only -d float is supported by the reference programs");
  if (o.op != "sum") usage(prog, "only -o sum is supported by the reference programs");
  if (o.iters < 1 || o.warmup < 0) usage(prog, "-n must be >= 1 and -w >= 0");
  if (o.loomMemory != 0 && o.loomMemory != 1) usage(prog, "-R must be 0 (plain buffers) or 1 (loomMemAlloc)");
  if (o.factor <= 1 && o.increment == 0) o.increment = o.maxBytes;  // a single size
  return o;
}

inline std::vector<size_t> sizeSweep(const Options& o) {
  std::vector<size_t> out;
  for (size_t s = o.minBytes; s <= o.maxBytes && s > 0;) {
    out.push_back(s);
    size_t n = o.factor > 1 ? static_cast<size_t>(static_cast<double>(s) * o.factor) : s + o.increment;
    if (n <= s) break;
    s = n;
  }
  return out;
}

// nccl-tests' per-collective counts. `param` is the count handed to the collective call (per rank
// for allgather/reducescatter, per peer for alltoall); `bytes` is the size column.
struct Shape {
  size_t param = 0, sendElems = 0, recvElems = 0, bytes = 0;
};
inline Shape shapeFor(Coll c, size_t sizeBytes, int nranks, size_t elem) {
  size_t count = sizeBytes / elem, n = static_cast<size_t>(nranks);
  Shape s;
  switch (c) {
    case Coll::AllReduce:
    case Coll::Broadcast: s.param = count; s.sendElems = s.recvElems = count; s.bytes = count * elem; break;
    case Coll::AllGather: s.param = count / n; s.sendElems = s.param; s.recvElems = s.param * n; s.bytes = s.recvElems * elem; break;
    case Coll::ReduceScatter: s.param = count / n; s.sendElems = s.param * n; s.recvElems = s.param; s.bytes = s.sendElems * elem; break;
    case Coll::AllToAll: s.param = count / n; s.sendElems = s.recvElems = s.param * n; s.bytes = s.sendElems * elem; break;
  }
  return s;
}

inline double busFactor(Coll c, int n) {
  if (c == Coll::AllReduce) return 2.0 * (n - 1) / n;
  if (c == Coll::Broadcast) return 1.0;
  return static_cast<double>(n - 1) / n;
}

// Inputs exact in float for any sum over a few ranks: value(rank, i) = rank + 1 + i % 13.
inline float valueAt(int rank, size_t i) { return static_cast<float>(rank + 1 + static_cast<int>(i % 13)); }

inline void fillInput(Coll c, int rank, const Shape& s, float* send) {
  for (size_t i = 0; i < s.sendElems; ++i) send[i] = valueAt(rank, i);
}

// Expected output element j of `rank` for collective c (root for broadcast).
inline float expected(Coll c, int rank, int nranks, int root, const Shape& s, size_t j) {
  switch (c) {
    case Coll::AllReduce: { float v = 0; for (int r = 0; r < nranks; ++r) v += valueAt(r, j); return v; }
    case Coll::Broadcast: return valueAt(root, j);
    case Coll::AllGather: return valueAt(static_cast<int>(j / s.param), j % s.param);
    case Coll::ReduceScatter: { float v = 0; for (int r = 0; r < nranks; ++r) v += valueAt(r, rank * s.param + j); return v; }
    case Coll::AllToAll: return valueAt(static_cast<int>(j / s.param), rank * s.param + j % s.param);
  }
  return 0;
}

inline long countWrong(Coll c, int rank, int nranks, int root, const Shape& s, const float* out) {
  long wrong = 0;
  for (size_t j = 0; j < s.recvElems; ++j)
    if (out[j] != expected(c, rank, nranks, root, s, j)) ++wrong;
  return wrong;
}

struct Result {
  bool have = false;
  double timeUs = 0;
  long wrong = 0;
};

inline const char* aggName(int a) {
  static const char* const k[] = {"rank0", "avg", "min", "max"};
  return a >= 0 && a <= 3 ? k[a] : "avg";
}

inline void printHeader(const char* tool, int nranks, const Options& o) {
  std::printf("# %s: nranks %d, iters %d, warmup %d, check %d, agg %s, algo %s, transport %s, buffers %s\n", tool,
              nranks, o.iters, o.warmup, o.check, aggName(o.agg), o.algo.c_str(), o.transport.c_str(),
              o.loomMemory ? "loomMemAlloc (-R 1)" : "page-aligned (-R 0)");
  std::printf("#%11s %12s %8s %6s %6s %10s %8s %8s %6s %10s %8s %8s %6s\n", "size", "count", "type", "redop", "root",
              "oop_us", "algbw", "busbw", "#wrong", "ip_us", "algbw", "busbw", "#wrong");
}

// Prints the table row and appends the JSON line; returns busbw of the first present mode.
inline double report(const char* tool, Coll c, int nranks, const Options& o, const Shape& s, const Result& oop,
                     const Result& ip, std::FILE* json) {
  auto bw = [&](const Result& r, double& alg, double& bus) {
    alg = r.timeUs > 0 ? static_cast<double>(s.bytes) / (r.timeUs * 1e3) : 0;
    bus = alg * busFactor(c, nranks);
  };
  double oa = 0, ob = 0, ia = 0, ib = 0;
  bw(oop, oa, ob);
  bw(ip, ia, ib);
  int root = c == Coll::Broadcast ? o.root : -1;
  std::printf("%12zu %12zu %8s %6s %6d", s.bytes, s.param, o.type.c_str(), c == Coll::AllReduce || c == Coll::ReduceScatter ? o.op.c_str() : "none", root);
  if (oop.have) std::printf(" %10.2f %8.3f %8.3f %6ld", oop.timeUs, oa, ob, oop.wrong);
  else std::printf(" %10s %8s %8s %6s", "-", "-", "-", "-");
  if (ip.have) std::printf(" %10.2f %8.3f %8.3f %6ld\n", ip.timeUs, ia, ib, ip.wrong);
  else std::printf(" %10s %8s %8s %6s\n", "-", "-", "-", "-");
  std::fflush(stdout);
  if (json) {
    std::fprintf(json,
                 "{\"tool\":\"%s\",\"collective\":\"%s\",\"nranks\":%d,\"transport\":\"%s\",\"algo\":\"%s\","
                 "\"size\":%zu,\"count\":%zu,\"type\":\"%s\",\"redop\":\"%s\",\"root\":%d",
                 tool, kCollNames[static_cast<int>(c)], nranks, o.transport.c_str(), o.algo.c_str(), s.bytes, s.param,
                 o.type.c_str(), o.op.c_str(), root);
    auto mode = [&](const char* name, const Result& r, double alg, double bus) {
      if (r.have)
        std::fprintf(json, ",\"%s\":{\"time_us\":%.3f,\"algbw\":%.6g,\"busbw\":%.6g,\"wrong\":%ld}", name, r.timeUs, alg,
                     bus, r.wrong);
    };
    mode("oop", oop, oa, ob);
    mode("ip", ip, ia, ib);
    std::fprintf(json, ",\"iters\":%d,\"warmup\":%d,\"agg\":\"%s\",\"local_register\":%d}\n", o.iters, o.warmup,
                 aggName(o.agg), o.loomMemory);
    std::fflush(json);
  }
  return oop.have ? ob : ib;
}

inline void reportSummary(const char* tool, double sumBus, int n, long wrong, std::FILE* json) {
  double avg = n ? sumBus / n : 0;
  std::printf("# Out of bounds values : %ld %s\n# Avg bus bandwidth    : %.4f\n", wrong, wrong ? "FAILED" : "OK", avg);
  if (json) {
    std::fprintf(json, "{\"tool\":\"%s\",\"summary\":true,\"avg_busbw\":%.4f,\"wrong\":%ld}\n", tool, avg, wrong);
    std::fflush(json);
  }
}

// Aggregates per-rank times (us) the way -a asks.
inline double aggregate(const std::vector<double>& t, int agg) {
  if (t.empty()) return 0;
  double v = t[0];
  if (agg == 0) return v;
  double sum = 0, mn = t[0], mx = t[0];
  for (double x : t) { sum += x; mn = x < mn ? x : mn; mx = x > mx ? x : mx; }
  return agg == 1 ? sum / static_cast<double>(t.size()) : agg == 2 ? mn : mx;
}

}  // namespace peers

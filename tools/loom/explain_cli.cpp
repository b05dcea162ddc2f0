// `loom explain COLLECTIVE SIZE [-n NRANKS] [--topo FILE] ...`: runs the library's own cost model
// (src/cost) on the machine described, without starting any rank. SIZE follows loom bench (the
// nccl-tests "size" column), so a line here lines up with a bench row.
#include "explain_cli.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench_coll.hpp"
#include "bench_options.hpp"
#include "core/calibrate.hpp"
#include "cost/model.hpp"
#include "mem/reduce.hpp"
#include "topo/topology.hpp"

namespace loom::explain {

namespace {

struct Args {
  std::string coll, size, type = "float", topoFile, tuningFile, hostsSpec;
  int nranks = 0;
  bool json = false;
};

std::optional<loomDataType_t> parseType(const std::string& name) {
  for (int t = 0; t < loomNumTypes; ++t)
    if (name == mem::typeName(static_cast<loomDataType_t>(t))) return static_cast<loomDataType_t>(t);
  return std::nullopt;
}

// The machine: a topology file (its ranks, or NRANKS spread in blocks over its hosts), or NRANKS
// on this host, or NRANKS over --hosts H hosts like this one.
Result<cost::Placement> placementFor(const Args& a, std::string* described) {
  const int here = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  if (a.topoFile.empty()) {
    int n = a.nranks > 0 ? a.nranks : 2;
    int hosts = a.hostsSpec.empty() ? 1 : std::atoi(a.hostsSpec.c_str());
    if (hosts < 1 || hosts > n) return invalidArgument(fmt::format("--hosts {}: expected 1..{}", a.hostsSpec, n));
    *described = fmt::format("{} ranks on {} host{} of {} cores", n, hosts, hosts > 1 ? "s" : "", here);
    auto p = cost::Placement::blocks(n, hosts, here);
    if (auto self = topo::detectHost({}); self.isOk())
      p.cacheBytesOfHost.assign(hosts, topo::lastLevelCacheBytes(self.value()));
    p.readTransportParams();
    return p;
  }
  auto topo = topo::loadFile(a.topoFile);
  if (!topo.isOk()) return topo.takeStatus();
  const auto& t = topo.value();
  if (t.hosts.empty()) return invalidArgument(fmt::format("{}: no hosts", a.topoFile));
  cost::Placement p;
  for (const auto& h : t.hosts) {
    p.coresOfHost.push_back(std::max(h.cores, 1));
    p.nicGbpsOfHost.push_back(topo::nicGBps(h));
    p.cacheBytesOfHost.push_back(topo::lastLevelCacheBytes(h));
  }
  const int n = a.nranks > 0 ? a.nranks : static_cast<int>(t.ranks.size());
  if (n < 1) return invalidArgument(fmt::format("{} lists no ranks: give -n NRANKS", a.topoFile));
  if (n == static_cast<int>(t.ranks.size())) {
    for (const auto& r : t.ranks) p.hostOf.push_back(r.host);
  } else {
    const int hosts = static_cast<int>(t.hosts.size());
    for (int r = 0; r < n; ++r) p.hostOf.push_back(static_cast<int>(static_cast<long>(r) * hosts / n));
  }
  *described = fmt::format("{} ranks on {} host{} of {}", n, p.numHosts(), p.numHosts() > 1 ? "s" : "", a.topoFile);
  p.readTransportParams();
  return p;
}

std::string bytesStr(uint64_t b) {
  if (b >= (1ull << 30) && b % (1ull << 30) == 0) return fmt::format("{}G", b >> 30);
  if (b >= (1ull << 20) && b % (1ull << 20) == 0) return fmt::format("{}M", b >> 20);
  if (b >= (1ull << 10) && b % (1ull << 10) == 0) return fmt::format("{}K", b >> 10);
  return std::to_string(b);
}

}  // namespace

int runCli(int argc, char** argv) {
  CLI::App app{"Predict every candidate algorithm's time for one collective and size with the library's cost model,\n"
               "and mark the one it would choose. Nothing is run.",
               "loom explain"};
  Args a;
  app.add_option("collective", a.coll, "allreduce, allgather, reducescatter, broadcast, reduce, alltoall, gather, scatter")
      ->required();
  app.add_option("size", a.size, "bytes as in loom bench's size column (K/M/G suffixes)")->required();
  app.add_option("-n,--nranks", a.nranks, "number of ranks (default: the topology file's, else 2)");
  app.add_option("--topo", a.topoFile, "machine description (JSON, see docs/topology.md) instead of this host");
  app.add_option("--hosts", a.hostsSpec, "without --topo: spread the ranks over this many hosts like this one");
  app.add_option("-d,--type", a.type, "datatype (float, half, bfloat16, double, int32, ...)");
  app.add_option("--tuning", a.tuningFile, "cost-model constants (default: LOOM_TUNING_FILE or this host's cache)");
  app.add_flag("--json", a.json, "one JSON object instead of the table");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  auto bc = bench::parseColl(a.coll);
  auto coll = bc ? bench::libraryColl(*bc) : std::nullopt;
  if (!coll) {
    fmt::print(stderr, "loom explain: unknown collective '{}'\n", a.coll);
    return 2;
  }
  auto bytes = bench::parseBytes(a.size);
  if (!bytes) {
    fmt::print(stderr, "loom explain: bad size '{}' (e.g. 8, 64K, 16M, 1G)\n", a.size);
    return 2;
  }
  auto type = parseType(a.type);
  if (!type) {
    fmt::print(stderr, "loom explain: unknown datatype '{}'\n", a.type);
    return 2;
  }
  std::string described;
  auto where = placementFor(a, &described);
  if (!where.isOk()) {
    fmt::print(stderr, "loom explain: {}\n", where.status().message());
    return where.status().code() == loomInvalidArgument && a.topoFile.empty() ? 2 : 3;
  }
  auto tuning = a.tuningFile.empty() ? core::loadOrCalibrate() : cost::loadFile(a.tuningFile);
  if (!tuning.isOk()) {
    fmt::print(stderr, "loom explain: {}\n", tuning.status().message());
    return 3;
  }
  const int n = where->nranks();
  const size_t elem = mem::typeSize(*type);
  const bench::Layout layout = bench::layoutFor(*bc, *bytes, elem, n);
  algo::CollArgs shape;
  shape.coll = *coll;
  shape.count = layout.paramCount;
  shape.elemSize = elem;
  shape.chunkBytes = 512 << 10;
  auto choice = cost::choose(tuning.value(), where.value(), shape, cost::chunkCandidates(shape.chunkBytes),
                             mem::isNarrowFloat(*type));
  if (!choice.isOk()) {
    fmt::print(stderr, "loom explain: {}\n", choice.status().message());
    return 2;
  }
  const double busFactor = bench::busFactor(*bc, n);
  auto isBest = [&](const cost::Estimate& e) { return e.algo == choice->best.algo && e.chunkBytes == choice->best.chunkBytes; };
  if (a.json) {
    nlohmann::ordered_json j;
    j["collective"] = algo::collName(*coll);
    j["size"] = layout.bytes;
    j["count"] = layout.paramCount;
    j["type"] = mem::typeName(*type);
    j["nranks"] = n;
    j["hosts"] = where->numHosts();
    j["tuning"] = tuning->source;
    j["chosen"] = algo::algoName(choice->best.algo);
    for (const auto& e : choice->candidates) {
      j["candidates"].push_back({{"algo", algo::algoName(e.algo)},
                                 {"chunk_bytes", e.chunkBytes},
                                 {"predicted_us", e.us},
                                 {"predicted_loop_us", e.loopUs},
                                 {"busbw", e.us > 0 ? layout.bytes / (e.us * 1e3) * busFactor : 0},
                                 {"shm_bytes_per_rank", e.shmBytes},
                                 {"tcp_bytes_per_rank", e.tcpBytes},
                                 {"messages_per_rank", e.messages},
                                 {"bottleneck", e.bottleneck},
                                 {"chosen", isBest(e)}});
    }
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("# {} of {} bytes ({} x {}) on {}\n# tuning: {}\n", algo::collName(*coll), layout.bytes, layout.paramCount,
             mem::typeName(*type), described, tuning->source);
  fmt::print("#   {:<6} {:>6} {:>14} {:>11} {:>11} {:>14} {:>14} {:>10}  {}\n", "algo", "chunk", "predicted(us)",
             "looped(us)", "busbw(GB/s)", "shm B/rank", "tcp B/rank", "msgs/rank", "bottleneck");
  for (const auto& e : choice->candidates) {
    fmt::print("{} {:<6} {:>6} {:>14.2f} {:>11.2f} {:>11.2f} {:>14} {:>14} {:>10}  {}\n", isBest(e) ? "  *" : "   ",
               algo::algoName(e.algo), e.chunkBytes ? bytesStr(e.chunkBytes) : "-", e.us, e.loopUs,
               e.us > 0 ? layout.bytes / (e.us * 1e3) * busFactor : 0.0, e.shmBytes, e.tcpBytes, e.messages,
               e.bottleneck);
  }
  fmt::print("# predicted: one call alone; looped: per call when calls come back to back\n"
             "# * chosen: the least looped time (LOOM_ALGO, when set, overrides it in a job)\n");
  return 0;
}

}  // namespace loom::explain

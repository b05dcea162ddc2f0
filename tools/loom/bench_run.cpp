// One rank's sweep for `loom bench` (or its --algos race). Every rank runs the same loops in the
// same order (the collectives must match up); only rank 0 prints. A failing call is fatal: the other ranks would
// wait for it until LOOM_TIMEOUT, so the process exits at once (loomrun then stops the others).
#include "bench_run.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>

#include "bench_coll.hpp"
#include "bench_output.hpp"
#include "bench_measure.hpp"
#include "bench_race.hpp"
#include "bench_timing.hpp"
#include "mem/reduce.hpp"

namespace loom::bench {

namespace {

std::string hostId() {
  if (const char* id = std::getenv("LOOM_HOST_ID"); id && *id) return id;
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  return name;
}

// Pid and host of every rank, for the preamble and to name the transport in the JSON lines.
std::vector<RankInfo> gatherRanks(const Ctx& c) {
  struct Wire {
    int32_t pid;
    char host[60];
  };
  Wire mine{static_cast<int32_t>(getpid()), {}};
  std::string h = hostId();
  std::strncpy(mine.host, h.c_str(), sizeof mine.host - 1);
  std::vector<Wire> all(static_cast<size_t>(c.nranks));
  if (loomResult_t r = loomAllGather(&mine, all.data(), sizeof(Wire), loomUint8, c.comm, nullptr); r != loomSuccess)
    fatal(c, "gathering rank information", r);
  std::vector<RankInfo> out;
  for (const auto& w : all) out.push_back({w.pid, std::string(w.host, strnlen(w.host, sizeof w.host))});
  return out;
}

// LOOM_TRANSPORT when it forces one; otherwise what auto selection does: shm within a host,
// tcp across hosts.
std::string transportName(const std::vector<RankInfo>& ranks) {
  if (const char* t = std::getenv("LOOM_TRANSPORT"); t && (!std::strcmp(t, "shm") || !std::strcmp(t, "tcp")))
    return t;
  std::set<std::string> hosts;
  for (const auto& r : ranks) hosts.insert(r.host);
  if (hosts.size() == 1) return "shm";
  return hosts.size() == ranks.size() ? "tcp" : "mixed";
}

std::string algoName(const Options& o) {
  if (!o.algo.empty()) return o.algo;
  const char* env = std::getenv("LOOM_ALGO");
  return env && *env ? env : "auto";
}

}  // namespace

int runRank(loomComm_t comm, const Options& o, const std::vector<Contender>& contenders) {
  Ctx c{comm, o, 0, 1, false};
  loomCommUserRank(comm, &c.rank);
  loomCommCount(comm, &c.nranks);
  if (const char* v = std::getenv("LOOM_BENCH_CORRUPT"); v && *v && std::strcmp(v, "0") != 0) c.corrupt = true;

  const bool rooted = std::any_of(o.colls.begin(), o.colls.end(), hasRoot);
  if (rooted && o.root >= c.nranks) {
    if (c.rank == 0)
      fmt::print(stderr, "loom bench: -r/--root {} is out of range for {} ranks\n", o.root, c.nranks);
    return 2;
  }
  std::vector<RankInfo> ranks = gatherRanks(c);
  std::unique_ptr<Report> report;
  bool jsonOk = true;
  if (c.rank == 0) {
    report = std::make_unique<Report>(o, c.nranks, transportName(ranks), algoName(o));
    jsonOk = report->openJson();
  }
  // Every rank learns whether rank 0 could open the JSON file, so that all stop together.
  uint64_t jsonFailures = 0;
  if (loomResult_t r = sumOverRanks(comm, jsonOk ? 0 : 1, &jsonFailures); r != loomSuccess)
    fatal(c, "starting", r);
  if (jsonFailures) return 2;
  // The time aggregation (an allreduce of one double) runs once on every communicator the sweep
  // times, before the sweep: a first call of a shape chooses its algorithm, and made right after
  // the first timed loop it kept a peer's core while ranks sharing it were still in their last
  // timed call (4 ranks on 2 cores: the first row's 8 B allreduce read 2.4-2.7 us, not 1.6).
  std::vector<loomComm_t> timed{comm};
  for (const Contender& k : contenders) timed.push_back(k.comm);
  for (loomComm_t t : timed) {
    double unused = 0;
    if (loomResult_t r = aggregateTime(t, c.rank, c.nranks, o.agg, 0.0, &unused); r != loomSuccess)
      fatal(c, "starting", r);
  }
  if (report) report->preamble(ranks);

  const std::vector<size_t> sizes = sizeSweep(o);
  BenchBuffers buffers(o.loomMemory);
  if (!sizes.empty())
    for (Coll coll : o.colls)
      for (loomDataType_t type : o.types) {
        const size_t elem = mem::typeSize(type);
        if (!buffers.reserveFor(layoutFor(coll, sizes.back(), elem, c.nranks), elem))
          fatal(c, fmt::format("allocating buffers for {} bytes{}", sizes.back(), o.loomMemory ? " (loomMemAlloc)" : ""),
                loomSystemError);
      }
  for (Coll coll : o.colls) {
    if (report) {
      if (contenders.empty()) report->tableHeader(coll);
      else report->raceHeader(coll);
    }
    std::vector<int> roots{-1};
    if (hasRoot(coll)) {
      roots.clear();
      for (int r = 0; r < c.nranks; ++r)
        if (o.root < 0 || o.root == r) roots.push_back(r);
    }
    const std::vector<loomRedOp_t> ops = hasOp(coll) ? o.ops : std::vector<loomRedOp_t>{loomSum};
    for (loomDataType_t type : o.types)
      for (loomRedOp_t op : ops)
        for (int root : roots)
          for (size_t size : sizes) {
            CollRun run(coll, comm, c.rank, c.nranks, type, op, root, size, buffers);
            const std::string what =
                fmt::format("{} {} {} root {} size {}", collName(coll), mem::typeName(type), opName(op), root, size);
            if (!contenders.empty()) {
              RaceRow race{coll, run.layout(), type, op, root, {}, {}, {}, 0, {}};
              raceRow(c, contenders, run, what + " out of place", race);
              if (report) report->raceRow(race);
              continue;
            }
            Row row{coll, run.layout(), type, op, root, {}, {}, -1, {}};
            row.oop = measure(c, run, false, o.check, what + " out of place");
            row.ip = measure(c, run, true, o.check, what + " in place");
            computeBandwidth(coll, row.layout, c.nranks, row.oop);
            computeBandwidth(coll, row.layout, c.nranks, row.ip);
            if (o.explain) explain(comm, row);
            if (report) report->row(row);
          }
  }
  uint64_t wrong = 0;
  if (report) wrong = report->footer();
  // Rank 0 knows the total; share it so that every rank exits with the same code.
  if (loomResult_t r = sumOverRanks(comm, wrong, &wrong); r != loomSuccess) fatal(c, "finishing", r);
  return wrong ? 1 : 0;
}

}  // namespace loom::bench

// `loom bench` end to end: the built tool under loomrun with 2 and 3 ranks (and -g threads),
// checked through what a user sees: exit code, table header, one row per size, #wrong 0,
// busbw = algbw x the nccl-tests factor, JSON lines in the agreed format, exit 2 for bad flags,
// and a wrong result injected with LOOM_BENCH_CORRUPT caught.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "subprocess.hpp"

namespace {

using loomtest::ProcResult;
using loomtest::runProcess;

constexpr double kTimeout = 60;

struct TableRow {
  size_t size = 0, count = 0;
  std::string type, redop;
  int root = 0;
  double time[2] = {}, algbw[2] = {}, busbw[2] = {};
  std::string wrong[2];
};

struct Parsed {
  std::vector<std::string> collectives;  // "# Collective: X" in order
  std::vector<std::vector<TableRow>> rows;
};

Parsed parseTable(const std::string& out) {
  Parsed p;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# Collective: ", 0) == 0) {
      p.collectives.push_back(line.substr(14));
      p.rows.emplace_back();
      continue;
    }
    if (line.empty() || line[0] == '#' || p.rows.empty()) continue;
    std::istringstream ls(line);
    TableRow r;
    if (!(ls >> r.size >> r.count >> r.type >> r.redop >> r.root)) continue;
    for (int h = 0; h < 2; ++h) ls >> r.time[h] >> r.algbw[h] >> r.busbw[h] >> r.wrong[h];
    p.rows.back().push_back(r);
  }
  return p;
}

double factor(const std::string& coll, int n) {
  if (coll == "allreduce") return 2.0 * (n - 1) / n;
  if (coll == "broadcast" || coll == "reduce" || coll == "sendrecv") return 1.0;
  return static_cast<double>(n - 1) / n;
}

// nccl-tests' "size" from the requested bytes: what the buffers really hold.
size_t expectedSize(const std::string& coll, size_t bytes, size_t elem, int n) {
  size_t count = bytes / elem;
  if (coll == "allreduce" || coll == "broadcast" || coll == "reduce" || coll == "sendrecv") return count * elem;
  return count / n * n * elem;
}

size_t expectedCount(const std::string& coll, size_t bytes, size_t elem, int n) {
  size_t count = bytes / elem;
  if (coll == "allreduce" || coll == "broadcast" || coll == "reduce" || coll == "sendrecv") return count;
  return count / n;
}

std::string tempPath(const char* tag) {
  return std::string("/tmp/loom-bench-test-") + tag + "-" + std::to_string(getpid()) + ".json";
}

ProcResult runBench(int nranks, const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  std::vector<std::string> argv{LOOMRUN, "-n", std::to_string(nranks), "--timeout", "50", "--", LOOM_TOOL, "bench"};
  argv.insert(argv.end(), args.begin(), args.end());
  return runProcess(argv, env, kTimeout);
}

std::vector<nlohmann::json> readJsonLines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) out.push_back(nlohmann::json::parse(line));  // throws on a bad line
  return out;
}

// Sizes 8, 64, 512, 4096 bytes of float: four rows per collective.
const std::vector<size_t> kSizes{8, 64, 512, 4096};

void checkRun(int n, const std::vector<std::string>& colls, bool threads) {
  std::string list;
  for (const auto& c : colls) list += (list.empty() ? "" : ",") + c;
  const std::string json = tempPath(threads ? "threads" : "ranks");
  std::remove(json.c_str());
  std::vector<std::string> args{list, "-b", "8", "-e", "4K", "-f", "8", "-n", "3", "-w", "1", "-c", "1", "-J", json};
  ProcResult res;
  if (threads) {
    std::vector<std::string> argv{LOOM_TOOL, "bench", "-g", std::to_string(n)};
    argv.insert(argv.end(), args.begin(), args.end());
    res = runProcess(argv, {}, kTimeout);
  } else {
    res = runBench(n, args);
  }
  SCOPED_TRACE(res.output);
  ASSERT_FALSE(res.timedOut);
  ASSERT_EQ(res.exitCode, 0);
  EXPECT_NE(res.output.find("#       size         count      type   redop    root     time   algbw   busbw  #wrong"),
            std::string::npos);
  EXPECT_NE(res.output.find("(B)    (elements)"), std::string::npos);
  EXPECT_NE(res.output.find("# Out of bounds values : 0 OK"), std::string::npos);
  EXPECT_NE(res.output.find("# Avg bus bandwidth    : "), std::string::npos);
  EXPECT_NE(res.output.find("# nRanks " + std::to_string(n) + " "), std::string::npos);

  Parsed p = parseTable(res.output);
  ASSERT_EQ(p.collectives, colls);
  for (size_t c = 0; c < colls.size(); ++c) {
    const std::string& coll = colls[c];
    SCOPED_TRACE(coll);
    ASSERT_EQ(p.rows[c].size(), kSizes.size());
    for (size_t i = 0; i < kSizes.size(); ++i) {
      const TableRow& r = p.rows[c][i];
      EXPECT_EQ(r.size, expectedSize(coll, kSizes[i], 4, n));
      EXPECT_EQ(r.count, expectedCount(coll, kSizes[i], 4, n));
      EXPECT_EQ(r.type, "float");
      const bool reduces = coll == "allreduce" || coll == "reducescatter" || coll == "reduce";
      EXPECT_EQ(r.redop, reduces ? "sum" : "none");
      const bool rooted = coll == "broadcast" || coll == "reduce" || coll == "gather" || coll == "scatter";
      EXPECT_EQ(r.root, rooted ? 0 : -1);
      for (int h = 0; h < 2; ++h) {
        EXPECT_EQ(r.wrong[h], "0");
        EXPECT_GT(r.time[h], 0);
        // Both printed with two decimals: each may be off by 0.005.
        EXPECT_NEAR(r.busbw[h], r.algbw[h] * factor(coll, n), 0.005 + 0.005 * factor(coll, n) + 1e-9);
      }
    }
  }

  std::vector<nlohmann::json> lines = readJsonLines(json);
  std::remove(json.c_str());
  ASSERT_EQ(lines.size(), colls.size() * kSizes.size() + 1);
  for (size_t k = 0; k + 1 < lines.size(); ++k) {
    const auto& j = lines[k];
    SCOPED_TRACE(j.dump());
    const std::string coll = colls[k / kSizes.size()];
    const size_t bytes = kSizes[k % kSizes.size()];
    EXPECT_EQ(j.at("tool"), "loom-bench");
    EXPECT_EQ(j.at("collective"), coll);
    EXPECT_EQ(j.at("nranks"), n);
    EXPECT_EQ(j.at("transport"), "shm");
    EXPECT_EQ(j.at("algo"), "auto");
    EXPECT_EQ(j.at("size").get<size_t>(), expectedSize(coll, bytes, 4, n));
    EXPECT_EQ(j.at("count").get<size_t>(), expectedCount(coll, bytes, 4, n));
    EXPECT_EQ(j.at("type"), "float");
    EXPECT_TRUE(j.at("redop").is_string());
    EXPECT_TRUE(j.at("root").is_number_integer());
    EXPECT_EQ(j.at("iters"), 3);
    EXPECT_EQ(j.at("warmup"), 1);
    EXPECT_EQ(j.at("agg"), "avg");
    EXPECT_EQ(j.at("local_register"), 0);
    for (const char* h : {"oop", "ip"}) {
      const auto& half = j.at(h);
      const double t = half.at("time_us").get<double>();
      ASSERT_GT(t, 0);
      EXPECT_NEAR(half.at("algbw").get<double>(), j.at("size").get<double>() / 1e9 / (t * 1e-6), 1e-9);
      EXPECT_NEAR(half.at("busbw").get<double>(), half.at("algbw").get<double>() * factor(coll, n), 1e-9);
      EXPECT_EQ(half.at("wrong"), 0);
    }
  }
  EXPECT_EQ(lines.back().at("summary"), true);
  EXPECT_EQ(lines.back().at("wrong"), 0);
  EXPECT_GE(lines.back().at("avg_busbw").get<double>(), 0);
}

const std::vector<std::string> kColls{"allreduce", "allgather", "reducescatter", "broadcast",
                                      "reduce",    "alltoall",  "gather",        "scatter"};

TEST(BenchCli, CollectivesTwoRanks) { checkRun(2, kColls, false); }
TEST(BenchCli, CollectivesThreeRanks) { checkRun(3, kColls, false); }
TEST(BenchCli, ThreadsWithoutLauncher) { checkRun(3, {"allreduce", "allgather", "reducescatter"}, true); }

// sendrecv in place sends from and receives into the same buffer, as nccl-tests does.
TEST(BenchCli, SendRecv) {
  checkRun(2, {"sendrecv"}, false);
  checkRun(3, {"sendrecv"}, false);
}

// Every type and op, every root, both completion modes: all results right.
TEST(BenchCli, TypesOpsRoots) {
  for (const char* blocking : {"0", "1"}) {
    ProcResult res = runBench(3, {"allreduce,reduce", "-b", "7", "-e", "300", "-f", "40", "-n", "1", "-w", "0", "-d",
                                  "all", "-o", "all", "-r", "all", "-z", blocking, "-a", "3"});
    SCOPED_TRACE(res.output);
    ASSERT_EQ(res.exitCode, 0);
    Parsed p = parseTable(res.output);
    ASSERT_EQ(p.rows.size(), 2u);
    EXPECT_EQ(p.rows[0].size(), 12u * 5 * 2);      // types x ops x sizes (7, 280)
    EXPECT_EQ(p.rows[1].size(), 12u * 5 * 3 * 2);  // ... x roots
    EXPECT_NE(res.output.find("blocking: " + std::string(blocking)), std::string::npos);
  }
}

// The table has `colls` collectives of `rows` rows each, and every half's #wrong reads `wrong`.
void expectWrongInEveryRow(const std::string& output, size_t colls, size_t rows, const std::string& wrong) {
  Parsed p = parseTable(output);
  ASSERT_EQ(p.rows.size(), colls);
  for (const auto& perColl : p.rows) {
    ASSERT_EQ(perColl.size(), rows);
    for (const auto& r : perColl) EXPECT_TRUE(r.wrong[0] == wrong && r.wrong[1] == wrong);
  }
}

TEST(BenchCli, InjectedWrongResultIsCaught) {
  const std::string json = tempPath("corrupt");
  std::remove(json.c_str());
  ProcResult res = runBench(2, {"allreduce,gather", "-b", "64", "-e", "256", "-f", "4", "-n", "1", "-w", "0", "-r", "1",
                                "-J", json},
                            {"LOOM_BENCH_CORRUPT=1"});
  SCOPED_TRACE(res.output);
  ASSERT_FALSE(res.timedOut);
  EXPECT_NE(res.exitCode, 0);
  EXPECT_NE(res.output.find("# Out of bounds values : 8 FAILED"), std::string::npos);  // 4 rows x 2 halves
  expectWrongInEveryRow(res.output, 2, 2, "1");
  std::vector<nlohmann::json> lines = readJsonLines(json);
  std::remove(json.c_str());
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0].at("oop").at("wrong"), 1);
  EXPECT_EQ(lines.back().at("wrong"), 8);
}

// -R 1: the buffers come from loomMemAlloc (huge pages from 2 MiB), sizes spanning that boundary,
// every result checked.
TEST(BenchCli, LoomMemoryBuffers) {
  const std::string json = tempPath("loommem");
  std::remove(json.c_str());
  ProcResult res = runBench(2, {"allgather,broadcast,allreduce", "-b", "1M", "-e", "4M", "-f", "4", "-n", "2", "-w",
                                "1", "-c", "1", "-R", "1", "-J", json});
  SCOPED_TRACE(res.output);
  ASSERT_FALSE(res.timedOut);
  ASSERT_EQ(res.exitCode, 0);
  EXPECT_NE(res.output.find("buffers: loomMemAlloc (-R 1)"), std::string::npos);
  EXPECT_NE(res.output.find("# Out of bounds values : 0 OK"), std::string::npos);
  expectWrongInEveryRow(res.output, 3, 2, "0");
  std::vector<nlohmann::json> lines = readJsonLines(json);
  std::remove(json.c_str());
  ASSERT_EQ(lines.size(), 7u);  // 3 collectives x 2 sizes, then the summary
  for (size_t k = 0; k + 1 < lines.size(); ++k) EXPECT_EQ(lines[k].at("local_register"), 1) << lines[k].dump();
}

TEST(BenchCli, NoCheckPrintsNA) {
  ProcResult res = runBench(2, {"broadcast", "-b", "1K", "-e", "1K", "-c", "0", "-n", "2", "-r", "1"},
                            {"LOOM_BENCH_CORRUPT=1"});
  SCOPED_TRACE(res.output);
  ASSERT_EQ(res.exitCode, 0);
  Parsed p = parseTable(res.output);
  ASSERT_EQ(p.rows.size(), 1u);
  ASSERT_EQ(p.rows[0].size(), 1u);
  EXPECT_EQ(p.rows[0][0].wrong[0], "N/A");
  EXPECT_EQ(p.rows[0][0].root, 1);
}

TEST(BenchCli, BadFlagsExitTwo) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
      {{}, "collective is required"},
      {{"allshuffle"}, "unknown collective 'allshuffle'"},
      {{"allreduce", "-b", "12Q"}, "-b/--minbytes: '12Q'"},
      {{"allreduce", "-b", "1M", "-e", "1K"}, "larger than -e"},
      {{"allreduce", "-d", "float17"}, "unknown type 'float17'"},
      {{"allreduce", "-o", "xor"}, "unknown op 'xor'"},
      {{"allreduce", "-c", "2"}, "--check"},
      {{"allreduce", "-a", "4"}, "--average"},
      {{"allreduce", "-n", "0"}, "--iters"},
      {{"allreduce", "-r", "x"}, "-r/--root: 'x'"},
      {{"allreduce", "--frobnicate"}, "--frobnicate"},
      {{"broadcast", "-g", "2", "-r", "2", "-b", "8", "-e", "8"}, "root 2 is out of range for 2 ranks"},
      {{"allreduce", "--algos", "auto,zigzag"}, "--algos: unknown algorithm 'zigzag'"},
      {{"allreduce", "--algos", "ring,tree,ring"}, "--algos: 'ring' is listed twice"},
      {{"allreduce", "--algos", "ring", "--algo", "tree"}, "give one of them"},
      {{"allreduce", "--algos", "ring", "--rounds", "0"}, "--rounds"},
      {{"allreduce", "-R", "2"}, "--local_register"},
  };
  for (const auto& [args, message] : cases) {
    std::vector<std::string> argv{LOOM_TOOL, "bench"};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcResult res = runProcess(argv, {}, kTimeout);
    SCOPED_TRACE(res.output);
    EXPECT_EQ(res.exitCode, 2);
    EXPECT_NE(res.output.find(message), std::string::npos) << message;
  }
  // -g under a launcher is refused: the launcher sets the number of ranks.
  ProcResult res = runBench(2, {"allreduce", "-g", "2"});
  EXPECT_EQ(res.exitCode, 2) << res.output;
  EXPECT_NE(res.output.find("cannot be used under a launcher"), std::string::npos) << res.output;
}

// --algos: every listed algorithm that implements the collective is timed on its own
// communicator and checked; auto / best is the auto time over the fastest forced one.
// With `corrupt` (LOOM_BENCH_CORRUPT) each contender's check finds one wrong element per row.
void checkRace(int n, bool threads, bool corrupt) {
  const std::vector<std::string> env = corrupt ? std::vector<std::string>{"LOOM_BENCH_CORRUPT=1"}
                                               : std::vector<std::string>{};
  const std::string json = tempPath("race");
  std::remove(json.c_str());
  std::vector<std::string> args{"allreduce,allgather", "-b", "64", "-e", "4K", "-f", "8", "-n", "2", "-w", "1",
                                "--algos", "auto,ring,tree,direct", "--rounds", "2", "-J", json};
  ProcResult res;
  if (threads) {
    std::vector<std::string> argv{LOOM_TOOL, "bench", "-g", std::to_string(n)};
    argv.insert(argv.end(), args.begin(), args.end());
    res = runProcess(argv, env, kTimeout);
  } else {
    res = runBench(n, args, env);
  }
  SCOPED_TRACE(res.output);
  ASSERT_FALSE(res.timedOut);
  EXPECT_EQ(res.exitCode, corrupt ? 1 : 0);
  EXPECT_NE(res.output.find("root      auto      ring      tree    direct  #wrong  auto-algo      best  auto/best"),
            std::string::npos);
  EXPECT_NE(res.output.find("median of 2 interleaved rounds"), std::string::npos);
  EXPECT_NE(res.output.find(" of 6 rows"), std::string::npos);  // 2 collectives x 3 sizes, each with auto
  std::vector<nlohmann::json> lines = readJsonLines(json);
  std::remove(json.c_str());
  ASSERT_EQ(lines.size(), 7u);
  for (size_t k = 0; k < 6; ++k) {
    const auto& j = lines[k];
    SCOPED_TRACE(j.dump());
    const bool allreduce = k < 3;
    EXPECT_EQ(j.at("race"), true);
    EXPECT_EQ(j.at("collective"), allreduce ? "allreduce" : "allgather");
    EXPECT_EQ(j.at("nranks"), n);
    EXPECT_EQ(j.at("rounds"), 2);
    // allgather has no tree algorithm: that one sits it out.
    const auto& t = j.at("time_us");
    std::vector<std::string> expected = allreduce ? std::vector<std::string>{"auto", "ring", "tree", "direct"}
                                                  : std::vector<std::string>{"auto", "ring", "direct"};
    ASSERT_EQ(t.size(), expected.size());
    EXPECT_EQ(j.at("wrong").get<size_t>(), corrupt ? expected.size() : 0);
    std::string best;
    for (const auto& name : expected) {
      ASSERT_TRUE(t.contains(name)) << name;
      EXPECT_GT(t.at(name).get<double>(), 0);
      if (name != "auto" && (best.empty() || t.at(name).get<double>() < t.at(best).get<double>())) best = name;
    }
    EXPECT_EQ(j.at("best"), best);
    EXPECT_NEAR(j.at("auto_over_best").get<double>(), t.at("auto").get<double>() / t.at(best).get<double>(), 1e-9);
    EXPECT_TRUE(j.at("auto_algo").is_string());
    // Each forced contender ran its own algorithm; auto ran what the model picked.
    for (const auto& name : expected)
      EXPECT_EQ(j.at("ran").at(name), name == "auto" ? j.at("auto_algo") : nlohmann::json(name)) << name;
    EXPECT_GT(j.at("auto_predicted_us").get<double>(), 0);
  }
  EXPECT_EQ(lines.back().at("summary"), true);
  EXPECT_EQ(lines.back().at("wrong").get<size_t>(), corrupt ? 3u * 4 + 3u * 3 : 0u);
}

TEST(BenchCli, AlgosRaceUnderLauncher) { checkRace(2, false, false); }
TEST(BenchCli, AlgosRaceAsThreads) { checkRace(3, true, false); }
TEST(BenchCli, AlgosRaceCatchesWrongResults) { checkRace(2, false, true); }

// A forced algorithm that falls back to the automatic choice sits the row out instead of racing
// auto's own choice under its name: the board runs over shared memory, not over TCP.
TEST(BenchCli, AlgosRaceSeatsTheBoardOnlyWhereItRuns) {
  for (const std::string transport : {"shm", "tcp"}) {
    SCOPED_TRACE(transport);
    const std::string json = tempPath("race_board");
    std::remove(json.c_str());
    ProcResult res = runBench(2, {"allreduce", "-b", "64", "-e", "64", "-n", "2", "-w", "1", "--algos", "auto,ring,board",
                                  "--rounds", "1", "-J", json},
                              {"LOOM_TRANSPORT=" + transport});
    SCOPED_TRACE(res.output);
    ASSERT_FALSE(res.timedOut);
    ASSERT_EQ(res.exitCode, 0);
    std::vector<nlohmann::json> lines = readJsonLines(json);
    std::remove(json.c_str());
    ASSERT_EQ(lines.size(), 2u);
    const auto& t = lines[0].at("time_us");
    EXPECT_GT(t.at("ring").get<double>(), 0);
    if (transport == "shm") {
      EXPECT_GT(t.at("board").get<double>(), 0);
      EXPECT_EQ(lines[0].at("ran").at("board"), "board");
    } else {
      EXPECT_FALSE(t.contains("board")) << lines[0].dump();
      EXPECT_NE(lines[0].at("best"), "board");
    }
  }
}

// loom explain: every candidate with its times, the one with the least time in a loop chosen;
// bad input exits 2, a malformed tuning file 3 naming the field.
TEST(ExplainCli, ListsCandidatesAndChoosesTheLeastLoopedTime) {
  const std::string tuning = tempPath("tuning");
  {
    std::ofstream f(tuning);
    f << R"({"links": {"shm": {"alpha_us": 1, "gbps": 10}}, "copy_gbps": 20, "reduce_gbps": 10,
            "copy_curve": [[1048576, 40], [134217728, 10]]})";
  }
  ProcResult res = runProcess({LOOM_TOOL, "explain", "allreduce", "64K", "-n", "4", "--tuning", tuning, "--json"}, {},
                              kTimeout);
  SCOPED_TRACE(res.output);
  ASSERT_EQ(res.exitCode, 0);
  auto j = nlohmann::json::parse(res.output);
  EXPECT_EQ(j.at("collective"), "allreduce");
  EXPECT_EQ(j.at("nranks"), 4);
  std::set<std::string> algos;
  int chosen = 0;
  double least = 1e300;
  for (const auto& c : j.at("candidates")) {
    algos.insert(c.at("algo").get<std::string>());
    EXPECT_GT(c.at("predicted_us").get<double>(), 0);
    EXPECT_GT(c.at("predicted_loop_us").get<double>(), 0);
    least = std::min(least, c.at("predicted_loop_us").get<double>());
  }
  for (const auto& c : j.at("candidates"))
    if (c.at("chosen").get<bool>()) {
      ++chosen;
      EXPECT_EQ(c.at("predicted_loop_us").get<double>(), least);
      EXPECT_EQ(c.at("algo"), j.at("chosen"));
    }
  EXPECT_EQ(chosen, 1);
  EXPECT_EQ(algos, (std::set<std::string>{"ring", "rhd", "tree", "direct"}));

  ProcResult table = runProcess({LOOM_TOOL, "explain", "broadcast", "1M", "-n", "2", "--tuning", tuning}, {}, kTimeout);
  EXPECT_EQ(table.exitCode, 0) << table.output;
  EXPECT_NE(table.output.find("predicted(us)  looped(us)"), std::string::npos) << table.output;

  ProcResult bad = runProcess({LOOM_TOOL, "explain", "allshuffle", "1M"}, {}, kTimeout);
  EXPECT_EQ(bad.exitCode, 2) << bad.output;
  EXPECT_NE(bad.output.find("unknown collective 'allshuffle'"), std::string::npos) << bad.output;
  {
    std::ofstream f(tuning);
    f << R"({"copy_curve": [[2, 1], [1, 1]]})";
  }
  ProcResult broken = runProcess({LOOM_TOOL, "explain", "allreduce", "1M", "--tuning", tuning}, {}, kTimeout);
  EXPECT_EQ(broken.exitCode, 3) << broken.output;
  EXPECT_NE(broken.output.find("copy_curve[1]: sizes must ascend"), std::string::npos) << broken.output;
  std::remove(tuning.c_str());
}

TEST(BenchCli, Help) {
  ProcResult res = runProcess({LOOM_TOOL, "bench", "--help"}, {}, kTimeout);
  EXPECT_EQ(res.exitCode, 0);
  for (const char* flag : {"--minbytes", "--maxbytes", "--stepfactor", "--stepbytes", "--iters", "--warmup_iters",
                           "--check", "--op", "--datatype", "--root", "--average", "--blocking", "--output_file",
                           "--algo", "--algos", "--rounds", "--nranks"})
    EXPECT_NE(res.output.find(flag), std::string::npos) << flag;
}

}  // namespace

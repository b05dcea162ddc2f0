// Entry of `loom bench`: parse the flags, create the communicator (from a launcher's
// environment, or -g ranks as threads of this process), run the sweep on every rank.
#include "bench_cli.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <thread>
#include <vector>

#include "bench_options.hpp"
#include "bench_race.hpp"
#include "bench_run.hpp"

namespace loom::bench {

namespace {

// The variables by which loomCommInitFromEnv recognises a launcher.
const char* launcherVariable() {
  for (const char* v : {"LOOM_RANK", "RANK", "OMPI_COMM_WORLD_RANK", "SLURM_PROCID"})
    if (std::getenv(v)) return v;
  return nullptr;
}

int initFailed() {
  fmt::print(stderr, "loom bench: communicator init failed: {}\n", loomGetLastError(nullptr));
  return 3;
}

}  // namespace

int runCli(int argc, char** argv) {
  ParseOutcome parsed = parseOptions(argc, argv);
  if (!parsed.options) return parsed.exitCode;
  const Options& o = *parsed.options;
  // The library reads LOOM_ALGO when a communicator is created.
  if (!o.algo.empty()) setenv("LOOM_ALGO", o.algo.c_str(), 1);

  if (const char* var = launcherVariable()) {
    if (o.threads > 0) {
      fmt::print(stderr, "loom bench: -g/--nranks runs ranks as threads and cannot be used under a launcher ({} is "
                         "set); the launcher decides the number of ranks\n", var);
      return 2;
    }
    loomComm_t comm = nullptr;
    if (loomCommInitFromEnv(&comm) != loomSuccess) return initFailed();
    std::vector<Contender> contenders;
    if (!o.algos.empty() && !splitContenders(comm, o, &contenders)) {
      loomCommDestroy(comm);
      return 3;
    }
    int code = runRank(comm, o, contenders);
    destroyContenders(contenders);
    loomCommDestroy(comm);
    return code;
  }

  const int n = o.threads > 0 ? o.threads : 1;
  std::vector<loomComm_t> comms(static_cast<size_t>(n), nullptr);
  if (loomCommInitAll(comms.data(), n) != loomSuccess) return initFailed();
  std::vector<std::vector<Contender>> contenders(static_cast<size_t>(n));
  if (!o.algos.empty() && !initContenders(n, o, &contenders)) {
    for (loomComm_t c : comms) loomCommDestroy(c);
    return 3;
  }
  std::vector<int> codes(static_cast<size_t>(n), 0);
  {
    std::vector<std::jthread> ranks;
    for (int r = 1; r < n; ++r) ranks.emplace_back([&, r] { codes[r] = runRank(comms[r], o, contenders[r]); });
    codes[0] = runRank(comms[0], o, contenders[0]);
  }
  for (auto& cs : contenders) destroyContenders(cs);
  for (loomComm_t c : comms) loomCommDestroy(c);
  for (int c : codes)
    if (c != codes[0]) return c > codes[0] ? c : codes[0];
  return codes[0];
}

}  // namespace loom::bench

// loomrun: start N local ranks of a Loom program.
//
//   loomrun -n 4 [-t] [--timeout S] [--kill-grace S] [--bind-to auto|core|none] [--env K=V ...] -- prog args...
//
// loomrun hosts the rendezvous root itself (bootstrap::createRoot) and hands every rank
// LOOM_RANK, LOOM_WORLD_SIZE, LOOM_LOCAL_RANK and LOOM_UNIQUE_ID, so loomCommInitFromEnv
// simply joins. See docs/launchers.md.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "binding.hpp"
#include "bootstrap/bootstrap.hpp"
#include "job.hpp"
#include "os/process.hpp"

int main(int argc, char** argv) {
  loom::loomrun::JobOptions opts;
  std::vector<std::string> envArgs;
  CLI::App app{
      "loomrun: start N local ranks of a Loom program.\n\n"
      "Each rank gets LOOM_RANK, LOOM_WORLD_SIZE, LOOM_LOCAL_RANK and LOOM_UNIQUE_ID (loomrun hosts the\n"
      "rendezvous). When a rank fails, the others get SIGTERM, then SIGKILL after --kill-grace seconds, and\n"
      "loomrun exits with the failing rank's code (128+signal if it was killed). SIGINT/SIGTERM/SIGHUP are\n"
      "forwarded to every rank. --timeout ends the job with exit code 124. Afterwards loomrun removes\n"
      "/dev/shm/loom-* segments left by the ranks. Exit code 125: loomrun itself failed.",
      "loomrun"};
  app.add_option("-n,--np", opts.nranks, "Number of ranks to start")->required()->check(CLI::Range(1, 4096));
  app.add_flag("-t,--tag-output", opts.tagOutput, "Prefix every output line with [rank]");
  app.add_option("--timeout", opts.timeoutSec, "Kill the job after this many seconds and exit 124 (0: no limit)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--kill-grace", opts.killGraceSec, "Seconds between SIGTERM and SIGKILL when stopping ranks")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  using loom::loomrun::BindMode;
  const std::map<std::string, BindMode> bindModes{{"auto", BindMode::Auto}, {"core", BindMode::Core}, {"none", BindMode::None}};
  std::string bindTo = "auto";
  app.add_option("--bind-to", bindTo,
                 "Bind each rank to one CPU, round robin over loomrun's CPUs: auto (only when ranks outnumber "
                 "CPUs), core (always) or none")
      ->capture_default_str()
      ->check(CLI::IsMember(bindModes));
  app.add_option("--env", envArgs, "Set K=V in every rank's environment (repeatable)")->allow_extra_args(false);
  // Everything from the first positional on belongs to the program (`--` is optional).
  app.prefix_command();
  app.footer("Usage: loomrun -n N [options] [--] program [args...]\nExample: loomrun -n 4 --tag-output -- ./my_training --epochs 3");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 125;
  }
  opts.argv = app.remaining();
  if (!opts.argv.empty() && opts.argv.front() == "--") opts.argv.erase(opts.argv.begin());
  if (opts.argv.empty()) {
    std::fprintf(stderr, "loomrun: no program given\n%s", app.help().c_str());
    return 125;
  }
  for (const auto& kv : envArgs) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "loomrun: --env expects K=V, got '%s'\n", kv.c_str());
      return 125;
    }
    opts.env.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  const std::vector<int> allowed = loom::os::allowedCpus();
  opts.cpus = loom::loomrun::cpusForRanks(bindModes.at(bindTo), opts.nranks, allowed);
  // A bound rank sees one CPU in its own affinity; tell it how many the job's ranks share, so
  // it can tell whether ranks outnumber CPUs (spin or yield while waiting).
  const bool userSet = std::getenv("LOOM_HOST_CPUS") ||
                       std::any_of(opts.env.begin(), opts.env.end(), [](const auto& kv) { return kv.first == "LOOM_HOST_CPUS"; });
  if (!opts.cpus.empty() && !userSet)
    opts.env.emplace_back("LOOM_HOST_CPUS", std::to_string(std::min<size_t>(allowed.size(), opts.cpus.size())));
  auto id = loom::bootstrap::createRoot();
  if (!id) {
    std::fprintf(stderr, "loomrun: cannot start the rendezvous: %s\n", id.status().message().c_str());
    return 125;
  }
  return loom::loomrun::runJob(opts, loom::bootstrap::idToHex(*id));
}

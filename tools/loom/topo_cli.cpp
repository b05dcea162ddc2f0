// Entry of `loom topo`: detect this host (Basic level unless --full) or load --file, then print
// the tree or, with --json, the file format that LOOM_TOPO_FILE reads (docs/topology.md).
#include "topo_cli.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>

#include "core/communicator.hpp"
#include "topo/topology.hpp"

namespace loom::topo {

int runCli(int argc, char** argv) {
  CLI::App app{"Show the machine topology Loom detects: CPUs, NUMA, caches, NICs, GPUs (docs/topology.md)", "loom topo"};
  bool json = false, full = false, timing = false;
  std::string file;
  app.add_flag("--json", json, "print the JSON that LOOM_TOPO_FILE reads instead of a tree");
  app.add_option("--file", file, "load this topology file instead of detecting")->check(CLI::ExistingFile);
  app.add_flag("--full", full, "full detection: hwloc PCI tree and NVML GPUs (slower)");
  app.add_flag("--time", timing, "print the detection time to stderr");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  Topology topo;
  if (!file.empty()) {
    Result<Topology> loaded = loadFile(file);
    if (!loaded) {
      fmt::print(stderr, "loom topo: {}\n", loaded.status().message());
      return 3;
    }
    topo = std::move(loaded.value());
  } else {
    DetectOptions opts;
    opts.level = full ? DetectLevel::Full : DetectLevel::Basic;
    opts.hostId = core::detectHostId();
    auto t0 = std::chrono::steady_clock::now();
    Result<Host> host = detectHost(opts);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!host) {
      fmt::print(stderr, "loom topo: detection failed: {}\n", host.status().message());
      return 3;
    }
    if (timing) fmt::print(stderr, "loom topo: {} detection took {:.2f} ms\n", full ? "full" : "basic", ms);
    topo = assemble({host.value()});
  }
  fmt::print("{}", json ? toJson(topo, 2) : renderTree(topo));
  return 0;
}

}  // namespace loom::topo

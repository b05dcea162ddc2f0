// `loom`: the command-line front end. Subcommands live in their own libraries; this file only
// dispatches and prints the parameter registry.
#include <loom/loom.h>

#include <fmt/format.h>

#include <cstring>
#include <string>

#include "bench_cli.hpp"
#include "calibrate_cli.hpp"
#include "core/params.hpp"
#include "explain_cli.hpp"
#include "topo_cli.hpp"

#ifdef LOOM_HAVE_PLAN
#include "plan_cli.hpp"
#endif

namespace {

const char* typeName(loom::params::Type t) {
  switch (t) {
    case loom::params::Type::Int: return "int";
    case loom::params::Type::Double: return "number";
    case loom::params::Type::Bytes: return "bytes";
    default: return "string";
  }
}

int listParams(bool markdown) {
  if (markdown) {
    fmt::print("| Variable | Type | Default | Description |\n|---|---|---|---|\n");
    for (const auto& p : loom::params::all())
      fmt::print("| `{}` | {} | `{}` | {} |\n", p.name, typeName(p.type), p.defaultValue, p.description);
    return 0;
  }
  for (const auto& p : loom::params::all())
    fmt::print("{:<22} {:<7} default '{}'\n    {}\n", p.name, typeName(p.type), p.defaultValue, p.description);
  return 0;
}

void usage() {
  fmt::print(
      "usage: loom <command> [options]\n\n"
      "commands:\n"
      "  bench           time and check collectives like nccl-tests (loom bench --help)\n"
      "  calibrate       measure this host's cost-model constants afresh (loom calibrate --help)\n"
      "  explain         predicted time of every algorithm for a collective and size (loom explain --help)\n"
      "  plan            fine-tuning GPU planner (loom plan --help)\n"
      "  topo            detected machine topology as a tree or JSON (loom topo --help)\n"
      "  version         print the library version\n\n"
      "options:\n"
      "  --list-params [--markdown]   every LOOM_* environment variable with default and meaning\n"
      "  -h, --help                   this help\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help")) {
    usage();
    return argc < 2 ? 1 : 0;
  }
  std::string cmd = argv[1];
  if (cmd == "--list-params") return listParams(argc > 2 && !std::strcmp(argv[2], "--markdown"));
  if (cmd == "version" || cmd == "--version") {
    int v = 0;
    loomGetVersion(&v);
    fmt::print("loom {}.{}.{}\n", v / 10000, v / 100 % 100, v % 100);
    return 0;
  }
  if (cmd == "bench") return loom::bench::runCli(argc - 1, argv + 1);
  if (cmd == "calibrate") return loom::calibrate::runCli(argc - 1, argv + 1);
  if (cmd == "topo") return loom::topo::runCli(argc - 1, argv + 1);
  if (cmd == "explain") return loom::explain::runCli(argc - 1, argv + 1);
#ifdef LOOM_HAVE_PLAN
  if (cmd == "plan") return loom::plan::runCli(argc - 1, argv + 1);
#endif
  fmt::print(stderr, "loom: unknown command '{}' (see loom --help)\n", cmd);
  return 2;
}

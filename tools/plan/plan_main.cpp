// Private driver for `loom plan` (the `loom` tool dispatches to the same runCli): `loom-plan ...`.
#include <string>
#include <vector>

#include "plan_cli.hpp"

int main(int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  static char name[] = "plan";
  args[0] = name;
  return loom::plan::runCli(int(args.size()), args.data());
}

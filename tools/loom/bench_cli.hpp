// `loom bench`: nccl-tests-style timing and checking of Loom's collectives (docs/bench.md).
#pragma once

namespace loom::bench {

// argv[0] is "bench". Returns the process exit code: 0 when every checked result was right,
// 1 when some were wrong, 2 for bad flags, 3 when a call or the initialisation failed.
int runCli(int argc, char** argv);

}  // namespace loom::bench

// `loom explain`: every candidate algorithm for one collective and size, with the cost model's
// predicted time, bytes per link and bottleneck; marks the one the library would choose.
#pragma once

namespace loom::explain {

// argv[0] is "explain". 0 on success, 2 for bad arguments, 3 when a file cannot be used.
int runCli(int argc, char** argv);

}  // namespace loom::explain

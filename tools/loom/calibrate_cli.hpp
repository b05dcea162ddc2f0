// `loom calibrate`: measures this host's cost-model constants afresh and keeps their median.
#pragma once

namespace loom::calibrate {

// argv[0] is "calibrate". 0 on success, 1 when no usable measurement came, 2 for bad arguments,
// 3 when the file cannot be written.
int runCli(int argc, char** argv);

}  // namespace loom::calibrate

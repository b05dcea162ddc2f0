// `loom plan` command line: argv[0] is "plan"; `loom plan recommend ...` is a subcommand.
#pragma once

#include <string>

namespace loom::plan {

// Returns the process exit status: 0 success, 1 a planning error (bad model, GPU, sizes), 2 a usage error.
int runCli(int argc, char** argv);

// Where data/models.json and data/gpus.json are: `override` if not empty, else <exe>/../share/loom when it
// holds the catalogs, else the source tree's data/ compiled in as LOOM_DATA_DIR.
std::string findDataDir(const std::string& override);

}  // namespace loom::plan

// `loom topo`: print this host's detected topology (or a saved one) as a tree or as JSON.
#pragma once

namespace loom::topo {

// argv[0] is "topo". Returns 0 on success, 2 for bad flags, 3 when detection or loading failed.
int runCli(int argc, char** argv);

}  // namespace loom::topo

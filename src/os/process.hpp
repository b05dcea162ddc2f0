// Process facts used for peer liveness checks.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace loom::os {

// False when `pid` no longer exists or is a zombie (exited, not yet reaped). Only meaningful
// for a pid of our own pid namespace.
bool processAlive(pid_t pid);
// Identifies this process's pid namespace (inode of /proc/self/ns/pid; 0 if unknown).
uint64_t pidNamespaceId();
// gethostname(), for messages and host identity; empty if unknown.
std::string hostName();
// The CPUs the calling thread may run on, ascending (at least one entry: {0} if unknown).
std::vector<int> allowedCpus();

}  // namespace loom::os

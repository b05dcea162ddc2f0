// Running one loomrun job: N ranks as child processes, output tagging, failure and signal
// handling, time limit, and removal of the ranks' leftover shared-memory segments.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace loom::loomrun {

struct JobOptions {
  int nranks = 1;
  bool tagOutput = false;
  double timeoutSec = 0;   // 0: no limit
  double killGraceSec = 3;
  std::vector<std::pair<std::string, std::string>> env;  // extra variables for every rank
  std::vector<std::string> argv;                          // program and arguments
  std::vector<int> cpus;  // CPU each rank is bound to (binding.hpp); empty: none bound
};

// Runs the job to completion and returns loomrun's exit status: 0 when every rank exits 0;
// the first failing rank's code (128 + signal when killed); 124 after --timeout; 128 +
// signal when loomrun itself was interrupted.
int runJob(const JobOptions& opts, const std::string& uniqueIdHex);

// Removes /dev/shm/loom-*-<pid> segments whose <pid> is in `pids`; returns how many.
int removeShmSegments(const std::vector<int>& pids, const std::string& dir = "/dev/shm");

}  // namespace loom::loomrun

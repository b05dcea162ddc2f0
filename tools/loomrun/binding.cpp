#include "binding.hpp"

#include <sched.h>

namespace loom::loomrun {

bool parseBindMode(const std::string& text, BindMode* mode) {
  if (text == "auto") *mode = BindMode::Auto;
  else if (text == "core") *mode = BindMode::Core;
  else if (text == "none") *mode = BindMode::None;
  else return false;
  return true;
}

std::vector<int> cpusForRanks(BindMode mode, int nranks, const std::vector<int>& allowed) {
  if (allowed.empty() || mode == BindMode::None) return {};
  if (mode == BindMode::Auto && nranks <= static_cast<int>(allowed.size())) return {};
  std::vector<int> cpus;
  for (int r = 0; r < nranks; ++r) cpus.push_back(allowed[static_cast<size_t>(r) % allowed.size()]);
  return cpus;
}

std::vector<int> allowedCpus() {
  cpu_set_t set;
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

}  // namespace loom::loomrun

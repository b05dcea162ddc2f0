#include "binding.hpp"

#include <cstddef>

namespace loom::loomrun {

std::vector<int> cpusForRanks(BindMode mode, int nranks, const std::vector<int>& allowed) {
  if (allowed.empty() || mode == BindMode::None) return {};
  if (mode == BindMode::Auto && nranks <= static_cast<int>(allowed.size())) return {};
  std::vector<int> cpus;
  for (int r = 0; r < nranks; ++r) cpus.push_back(allowed[static_cast<size_t>(r) % allowed.size()]);
  return cpus;
}

}  // namespace loom::loomrun

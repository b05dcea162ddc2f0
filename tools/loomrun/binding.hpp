// Which CPU each local rank is bound to (loomrun --bind-to). With more ranks than CPUs, ranks
// that share a CPU hand it to each other when they yield while waiting; left unbound, the
// scheduler moves them between CPUs and a yield often finds no peer to run on its own CPU
// (4 ranks on 2 CPUs, 8-byte allreduce: 2.6-2.9 us bound, 2.8-5.3 us unbound).
#pragma once

#include <vector>

namespace loom::loomrun {

enum class BindMode { Auto, Core, None };

// The CPU for each of `nranks` ranks, round robin over `allowed` (the CPUs loomrun may use, in
// ascending order); empty when ranks are not bound: mode None, or Auto with no more ranks than
// CPUs.
std::vector<int> cpusForRanks(BindMode mode, int nranks, const std::vector<int>& allowed);

}  // namespace loom::loomrun

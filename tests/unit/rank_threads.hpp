// Runs fn(rank) for ranks 0..n-1 on threads of this process and joins them: the shape of every
// in-process multi-rank test (loomCommInitAll).
#pragma once

#include <thread>
#include <vector>

namespace loomtest {

template <typename Fn>
void onRanks(int n, Fn fn) {
  std::vector<std::thread> ts;
  for (int r = 0; r < n; ++r) ts.emplace_back([&, r] { fn(r); });
  for (auto& t : ts) t.join();
}

}  // namespace loomtest

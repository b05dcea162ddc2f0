// A minimal rank program: reads the launcher environment, joins the rendezvous, all-gathers
// "<rank>@<launcher>" and checks every contribution. Prints "rank R of N ok" and exits 0.
#include <cstdio>
#include <string>

#include "bootstrap/bootstrap.hpp"

using namespace loom;

int main() {
  auto deadline = Deadline::after(std::chrono::seconds(20));
  auto env = bootstrap::fromEnvironment(deadline);
  if (!env) return std::fprintf(stderr, "fromEnvironment: %s\n", env.status().message().c_str()), 2;
  auto b = bootstrap::Bootstrap::join(env->id, env->rank, env->nranks, deadline);
  if (!b) return std::fprintf(stderr, "join: %s\n", b.status().message().c_str()), 3;
  for (int round = 0; round < 3; ++round) {
    auto all = (*b)->allGather(std::to_string(env->rank) + "@" + env->launcher + "#" + std::to_string(round), deadline);
    if (!all) return std::fprintf(stderr, "allGather: %s\n", all.status().message().c_str()), 4;
    for (int q = 0; q < env->nranks; ++q)
      if ((*all)[q] != std::to_string(q) + "@" + env->launcher + "#" + std::to_string(round))
        return std::fprintf(stderr, "round %d: wrong blob from rank %d\n", round, q), 5;
  }
  if (auto s = (*b)->barrier(deadline); !s.isOk()) return std::fprintf(stderr, "barrier: %s\n", s.message().c_str()), 6;
  std::printf("rank %d of %d ok (%s)\n", env->rank, env->nranks, env->launcher.c_str());
  return 0;
}

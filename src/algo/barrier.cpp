// Dissemination barrier: in round k (k = 1, 2, 4, ... < n) rank r sends an empty message to
// r+k and waits for one from r-k; a round's send waits for the previous round's receive, so
// after ceil(log2 n) rounds every rank has (transitively) heard from every other.
//   cost: ceil(log2 n) alpha; no payload (zero-byte messages are ordinary messages).
#include "algo/generators.hpp"

namespace loom::algo::detail {

Status disseminationBarrier(const CollArgs& a, sched::Schedule& s) {
  const int n = a.nranks, r = a.rank;
  uint32_t prev = UINT32_MAX;
  for (int k = 1; k < n; k *= 2) {
    if (prev == UINT32_MAX) s.add(sched::send(mod(r + k, n), sched::in(0, 0)));
    else s.add(sched::send(mod(r + k, n), sched::in(0, 0)), {prev});
    prev = s.add(sched::recv(mod(r - k, n), sched::out(0, 0)));
  }
  return Status::ok();
}

}  // namespace loom::algo::detail

// Alpha-beta collective costs (Thakur, Rabenseifner and Gropp 2005; Patarasuk and Yuan 2009).
//
// Ring all-reduce of B bytes over n ranks: 2(n-1) alpha + 2 (n-1)/n B / beta. Reduce-scatter and
// all-gather are each half of that. Across nodes the planner assumes the hierarchical form NCCL achieves
// with one ring per NIC: reduce-scatter over the g GPUs of a node, all-reduce of B/g per GPU across the N
// nodes using the group's share of the node's NIC bandwidth, then all-gather inside the node:
//   T = 2(g-1)/g B/beta_intra + 2(g-1) alpha_intra + 2(N-1)/N B/beta_node + 2(N-1) alpha_inter.
#include "comm_model.hpp"

#include <algorithm>

namespace loom::plan {

namespace {

// One pass (reduce-scatter or all-gather) of the hierarchical algorithm.
double halfPass(double bytes, const CommGroup& g) {
  if (g.ranks <= 1 || bytes <= 0) return 0;
  const int perNode = std::clamp(g.ranksPerNode, 1, g.ranks);
  const int nodes = g.nodes();
  double t = 0;
  if (perNode > 1)
    t += (perNode - 1) * g.intra.latencyUs * 1e-6 + double(perNode - 1) / perNode * bytes / (g.intra.gbs * 1e9);
  if (nodes > 1)
    t += (nodes - 1) * g.inter.latencyUs * 1e-6 + double(nodes - 1) / nodes * bytes / (g.inter.gbs * 1e9);
  return t;
}

}  // namespace

double AlphaBetaCommModel::allReduce(double bytes, const CommGroup& g) const { return 2 * halfPass(bytes, g); }
double AlphaBetaCommModel::reduceScatter(double bytes, const CommGroup& g) const { return halfPass(bytes, g); }
double AlphaBetaCommModel::allGather(double bytes, const CommGroup& g) const { return halfPass(bytes, g); }
double AlphaBetaCommModel::sendRecv(double bytes, const Link& link) const {
  return bytes <= 0 ? 0 : link.latencyUs * 1e-6 + bytes / (link.gbs * 1e9);
}

std::unique_ptr<CommModel> makeCommModel() { return std::make_unique<AlphaBetaCommModel>(); }

}  // namespace loom::plan

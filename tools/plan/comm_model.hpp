// Communication time for the collectives a training step issues, behind one interface so the planner can
// switch from the textbook alpha-beta formulas to the library's calibrated cost model (src/cost) by
// changing makeCommModel() alone.
#pragma once

#include <memory>
#include <string>

namespace loom::plan {

struct Link {
  double gbs = 0;        // achievable bandwidth, GB/s per direction
  double latencyUs = 0;  // per message
};

// A communicator: `ranks` GPUs, `ranksPerNode` of them on each node. `intra` is each GPU's link inside a
// node; `inter` the network bandwidth this group can use per node (its share of the node's NICs).
struct CommGroup {
  int ranks = 1;
  int ranksPerNode = 1;
  Link intra;
  Link inter;
  int nodes() const { return (ranks + ranksPerNode - 1) / ranksPerNode; }
};

class CommModel {
 public:
  virtual ~CommModel() = default;
  virtual std::string name() const = 0;
  // Seconds for `bytes` per rank (the full buffer for all-reduce; the full output for all-gather and the
  // full input for reduce-scatter).
  virtual double allReduce(double bytes, const CommGroup& g) const = 0;
  virtual double reduceScatter(double bytes, const CommGroup& g) const = 0;
  virtual double allGather(double bytes, const CommGroup& g) const = 0;
  virtual double sendRecv(double bytes, const Link& link) const = 0;
};

// Hierarchical alpha-beta: reduce-scatter inside the node, all-reduce across nodes, all-gather inside.
class AlphaBetaCommModel final : public CommModel {
 public:
  std::string name() const override { return "alpha-beta (hierarchical ring)"; }
  double allReduce(double bytes, const CommGroup& g) const override;
  double reduceScatter(double bytes, const CommGroup& g) const override;
  double allGather(double bytes, const CommGroup& g) const override;
  double sendRecv(double bytes, const Link& link) const override;
};

// The swap point.
std::unique_ptr<CommModel> makeCommModel();

}  // namespace loom::plan

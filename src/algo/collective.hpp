// What a collective call asks for, independent of how it is run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace loom::algo {

enum class Coll : uint8_t {
  AllReduce,
  Broadcast,
  Reduce,
  AllGather,
  ReduceScatter,
  AllToAll,
  AllToAllv,
  Gather,
  Scatter,
  Barrier,
  SendRecv,  // a group of point-to-point sends and receives
};

std::string_view collName(Coll c);  // "allreduce", "broadcast", ... (lower case, as loom bench)
// Takes a reduction op (allreduce, reduce, reducescatter).
constexpr bool isReduction(Coll c) { return c == Coll::AllReduce || c == Coll::Reduce || c == Coll::ReduceScatter; }
// Takes a root (broadcast, reduce, gather, scatter).
constexpr bool isRooted(Coll c) {
  return c == Coll::Broadcast || c == Coll::Reduce || c == Coll::Gather || c == Coll::Scatter;
}

// Byte layouts of Input/Output per collective (n = nranks, B = count * elemSize):
//   AllReduce      Input B, Output B
//   Broadcast      Input B (root only), Output B
//   Reduce         Input B, Output B (root only)
//   AllGather      Input B, Output n*B (rank r's block at r*B)
//   ReduceScatter  Input n*B, Output B (rank r gets block r)
//   AllToAll       Input n*B, Output n*B (block j of Input goes to rank j, block j of Output
//                  comes from rank j)
//   AllToAllv      as given by sendCounts/sendDispls/recvCounts/recvDispls (elements)
//   Gather         Input B, Output n*B (root only)
//   Scatter        Input n*B (root only), Output B
//   Barrier        no data
//   SendRecv       Input is a packed concatenation of the sends, Output of the receives, in
//                  the order of `p2p` (see P2pOp)
// In place (inPlace = true) means NCCL's convention: Input aliases Output, at offset 0 for
// AllReduce/Broadcast/Reduce/AllToAll(v)/Scatter-at-root..., and for AllGather Input is
// Output + rank*B, for ReduceScatter Output is Input + rank*B, for Gather (root) Input is
// Output + root*B, for Scatter (root) Output is Input + root*B. Schedules must be correct under
// that aliasing; the executor skips a Copy whose source and destination are the same bytes.
struct P2pOp {
  bool isSend = true;
  int peer = 0;
  size_t bytes = 0;
  size_t offset = 0;  // into Input (sends) or Output (receives)
};

struct CollArgs {
  Coll coll = Coll::AllReduce;
  int rank = 0;
  int nranks = 1;
  size_t count = 0;     // elements (per rank block where the layout says so)
  size_t elemSize = 1;  // bytes
  int root = 0;
  bool inPlace = false;
  size_t chunkBytes = 512 * 1024;  // pipelining unit; generators round it to elemSize multiples
  // AllToAllv only (elements, one per peer):
  std::vector<size_t> sendCounts, sendDispls, recvCounts, recvDispls;
  // SendRecv only:
  std::vector<P2pOp> p2p;
  // Host index of each rank (size nranks), for hierarchical algorithms; empty means one host.
  std::vector<int> hostOf;
  // Binomial broadcast and reduce trees pair neighbours first (rank v with v + 1). Set where the
  // ranks share one host with fewer cores than ranks (cost::Placement::crowdedOneHost): loomrun
  // binds them round-robin, so neighbours sit on different CPUs (docs/algorithms.md, tree).
  bool neighboursFirst = false;
};

}  // namespace loom::algo

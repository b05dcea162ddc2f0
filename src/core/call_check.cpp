// LOOM_CHECK=1: before each collective, every rank all-gathers a small descriptor of the call
// (collective, count, type, op, root) and compares. A mismatch fails the call on every rank with
// a message naming the ranks and the differing field, instead of a hang or corrupted data.
#include <fmt/format.h>

#include <cstring>

#include "core/call_descriptor.hpp"
#include "core/communicator.hpp"

namespace loom::core {

using Descriptor = CallDescriptor;

CallDescriptor descriptorOf(const CollCall& c) {
  using algo::Coll;
  const bool hasOp = c.coll == Coll::AllReduce || c.coll == Coll::Reduce || c.coll == Coll::ReduceScatter;
  const bool hasRoot = c.coll == Coll::Broadcast || c.coll == Coll::Reduce || c.coll == Coll::Gather || c.coll == Coll::Scatter;
  return {static_cast<int32_t>(c.coll), static_cast<int32_t>(c.type), hasOp ? static_cast<int32_t>(c.op) : 0,
          hasRoot ? c.root : 0, c.coll == Coll::AllToAllv ? 0 : c.count};
}

std::string describe(const Descriptor& d) {
  auto coll = static_cast<algo::Coll>(d.coll);
  std::string s = fmt::format("{}(count {}, {}", algo::collName(coll), d.count,
                              mem::typeName(static_cast<loomDataType_t>(d.type)));
  if (coll == algo::Coll::AllReduce || coll == algo::Coll::Reduce || coll == algo::Coll::ReduceScatter)
    s += fmt::format(", op {}", d.op);
  if (coll == algo::Coll::Broadcast || coll == algo::Coll::Reduce || coll == algo::Coll::Gather ||
      coll == algo::Coll::Scatter)
    s += fmt::format(", root {}", d.root);
  return s + ")";
}

const char* differingField(const Descriptor& a, const Descriptor& b) {
  if (a.coll != b.coll) return "collective";
  if (a.count != b.count) return "count";
  if (a.type != b.type) return "datatype";
  if (a.op != b.op) return "op";
  if (a.root != b.root) return "root";
  return nullptr;
}

std::unique_ptr<Operation> Communicator::makeCallCheck(const CollCall& c, uint64_t seq) {
  const Descriptor mine = descriptorOf(c);

  algo::CollArgs args;
  args.coll = algo::Coll::AllGather;
  args.rank = rank_;
  args.nranks = nranks_;
  args.count = sizeof(Descriptor);
  args.elemSize = 1;
  args.chunkBytes = chunkBytes_;
  Status err;
  auto plan = cachedPlan(args, algo::resolveAlgo({}, algo::Coll::AllGather, sizeof(Descriptor), nranks_), &err);
  if (!plan) return nullptr;

  auto op = std::make_unique<Operation>();
  op->ownedTemp.resize(sizeof(Descriptor) * (nranks_ + 1));
  std::memcpy(op->ownedTemp.data(), &mine, sizeof mine);
  op->buffers.input = op->ownedTemp.data();
  op->buffers.output = op->ownedTemp.data() + sizeof(Descriptor);
  op->plan = std::move(plan);
  op->fixedWhat = fmt::format("LOOM_CHECK of collective #{}", seq);
  op->request = std::make_shared<RequestState>();
  const uint8_t* all = op->buffers.output;
  const int n = nranks_;
  op->validate = [all, n, seq]() -> Status {
    std::vector<Descriptor> d(n);
    std::memcpy(d.data(), all, sizeof(Descriptor) * n);
    std::string differing;
    const char* field = nullptr;
    for (int r = 1; r < n; ++r) {
      if (const char* f = differingField(d[0], d[r])) {
        field = field ? field : f;
        differing += fmt::format("{}rank {} called {}", differing.empty() ? "" : "; ", r, describe(d[r]));
      }
    }
    if (!field) return {};
    return remoteError(fmt::format("collective mismatch at collective #{} (LOOM_CHECK): rank 0 called {} but {} "
                                   "(first differing field: {})",
                                   seq, describe(d[0]), differing, field),
                       -1);
  };
  return op;
}

}  // namespace loom::core

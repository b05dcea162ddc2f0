// LOOM_CHECK=1: before each collective, every rank all-gathers a small descriptor of the call
// (collective, count, type, op, root) and compares. A mismatch fails the call on every rank with
// a message naming the ranks and the differing field, instead of a hang or corrupted data.
#include <fmt/format.h>

#include <cstring>

#include "core/call_descriptor.hpp"
#include "core/communicator.hpp"

namespace loom::core {

std::unique_ptr<Operation> Communicator::makeCallCheck(const CollCall& c, uint64_t seq) {
  const CallDescriptor mine = descriptorOf(c);

  algo::CollArgs args;
  args.coll = algo::Coll::AllGather;
  args.rank = rank_;
  args.nranks = nranks_;
  args.count = sizeof(CallDescriptor);
  args.elemSize = 1;
  args.chunkBytes = chunkBytes_;
  Status err;
  auto plan = cachedPlan(args, algo::resolveAlgo({}, algo::Coll::AllGather, sizeof(CallDescriptor), nranks_), &err);
  if (!plan) return nullptr;

  auto op = std::make_unique<Operation>();
  op->ownedTemp = temps_->take(sizeof(CallDescriptor) * (nranks_ + 1), true);
  std::memcpy(op->ownedTemp.data(), &mine, sizeof mine);
  op->buffers.input = op->ownedTemp.data();
  op->buffers.output = op->ownedTemp.data() + sizeof(CallDescriptor);
  op->plan = std::move(plan);
  op->fixedWhat = fmt::format("LOOM_CHECK of collective #{}", seq);
  op->request = std::make_shared<RequestState>();
  const uint8_t* all = op->buffers.output;
  const int n = nranks_;
  op->validate = [all, n, seq]() -> Status {
    std::vector<CallDescriptor> d(n);
    std::memcpy(d.data(), all, sizeof(CallDescriptor) * n);
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

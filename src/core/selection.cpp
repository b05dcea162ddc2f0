// Algorithm selection for a communicator: LOOM_ALGO first, else the cost model replays every
// candidate's schedules for this communicator's placement and tuning. Results are cached per
// (collective, count, type); every rank computes the same answer from the same inputs (rank 0's
// tuning, the exchanged placement), so no agreement round is needed.
#include <fmt/format.h>

#include "core/communicator.hpp"
#include "mem/reduce.hpp"

namespace loom::core {

std::vector<size_t> Communicator::chunkCandidates() const {
  if (chunkForced_) return {chunkBytes_};
  return cost::chunkCandidates(chunkBytes_);
}

Result<cost::Choice> Communicator::predict(algo::Coll coll, size_t count, loomDataType_t type) const {
  algo::CollArgs shape;
  shape.coll = coll;
  shape.count = count;
  shape.elemSize = mem::typeSize(type);
  shape.chunkBytes = chunkBytes_;
  return cost::choose(tuning_, placement_, shape, chunkCandidates(), mem::isNarrowFloat(type));
}

Result<cost::Estimate> Communicator::estimateCall(algo::Coll coll, size_t count, loomDataType_t type, bool loop) {
  const size_t elem = mem::typeSize(type);
  auto p = pick(coll, count, type, count * elem);
  if (!p.isOk()) return p.takeStatus();
  algo::CollArgs shape;
  shape.coll = coll;
  shape.count = count;
  shape.elemSize = elem;
  shape.chunkBytes = p->chunkBytes;
  return cost::estimate(tuning_, placement_, shape, p->algo, mem::isNarrowFloat(type), loop);
}

Result<Communicator::Pick> Communicator::pick(algo::Coll coll, size_t count, loomDataType_t type, size_t selectBytes) {
  algo::Algo forced = algo::forcedAlgo(algoOverride_, coll, selectBytes);
  // The board where it cannot run (another host, too large): as if nothing were forced.
  const bool boardFits = placement_.boardFits(coll, count, mem::typeSize(type));
  if (forced == algo::Algo::Board && !boardFits) forced = algo::Algo::Auto;
  if (forced != algo::Algo::Auto) return Pick{forced, chunkBytes_};
  auto candidates = algo::algorithmsFor(coll);
  if ((candidates.size() == 1 && !boardFits) || coll == algo::Coll::AllToAllv)
    return Pick{candidates.front(), chunkBytes_};
  std::tuple<int, size_t, int> key{static_cast<int>(coll), count, static_cast<int>(type)};
  {
    std::lock_guard lock(mu_);
    if (auto it = picks_.find(key); it != picks_.end()) return it->second;
  }
  auto choice = predict(coll, count, type);
  if (!choice.isOk()) return choice.takeStatus();
  Pick p{choice->best.algo, cost::usesChunks(choice->best.algo) ? choice->best.chunkBytes : chunkBytes_};
  std::lock_guard lock(mu_);
  if (picks_.size() > 1024) picks_.clear();  // bounded: shapes of a training loop repeat
  picks_[key] = p;
  return p;
}

}  // namespace loom::core

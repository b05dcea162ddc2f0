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

namespace {

// What the cost model needs of a call (rank, ranks and hosts come from the placement).
algo::CollArgs shapeOf(algo::Coll coll, size_t count, loomDataType_t type, size_t chunkBytes) {
  algo::CollArgs shape;
  shape.coll = coll;
  shape.count = count;
  shape.elemSize = mem::typeSize(type);
  shape.chunkBytes = chunkBytes;
  return shape;
}

}  // namespace

Result<cost::Choice> Communicator::predict(algo::Coll coll, size_t count, loomDataType_t type) const {
  return cost::choose(tuning_, placement_, shapeOf(coll, count, type, chunkBytes_), chunkCandidates(),
                      mem::isNarrowFloat(type));
}

Result<cost::Estimate> Communicator::estimateCall(algo::Coll coll, size_t count, loomDataType_t type, bool loop) {
  const size_t elem = mem::typeSize(type);
  auto p = pick(coll, count, type, count * elem);
  if (!p.isOk()) return p.takeStatus();
  return cost::estimate(tuning_, placement_, shapeOf(coll, count, type, p->chunkBytes), p->algo,
                        mem::isNarrowFloat(type), loop);
}

// LOOM_ALGO names a pipelined algorithm: its chunk is still the model's (unless LOOM_CHUNK_SIZE
// is set), as auto would run it. A forced ring had run the default chunk while auto's ran the
// model's, so the two measured apart (1.12-1.35x in the accuracy races). Where the model cannot
// price it, the default: the call reports what is wrong.
size_t Communicator::modelChunk(algo::Algo a, algo::Coll coll, size_t count, loomDataType_t type) const {
  auto c = cost::chooseChunk(tuning_, placement_, shapeOf(coll, count, type, chunkBytes_), a, chunkCandidates(),
                             mem::isNarrowFloat(type));
  return c.isOk() ? c->best.chunkBytes : chunkBytes_;
}

Result<Communicator::Pick> Communicator::pick(algo::Coll coll, size_t count, loomDataType_t type, size_t selectBytes) {
  algo::Algo forced = algo::forcedAlgo(algoOverride_, coll, selectBytes);
  // The board where it cannot run (another host, too large): as if nothing were forced.
  const bool boardFits = placement_.boardFits(coll, count, mem::typeSize(type));
  if (forced == algo::Algo::Board && !boardFits) forced = algo::Algo::Auto;
  if (forced == algo::Algo::Auto) {
    auto candidates = algo::algorithmsFor(coll);
    if ((candidates.size() == 1 && !boardFits) || coll == algo::Coll::AllToAllv)
      return Pick{candidates.front(), chunkBytes_};
  } else if (chunkForced_ || !cost::usesChunks(forced)) {
    return Pick{forced, chunkBytes_};
  }
  std::tuple<int, size_t, int> key{static_cast<int>(coll), count, static_cast<int>(type)};
  {
    std::lock_guard lock(mu_);
    if (auto it = picks_.find(key); it != picks_.end()) return it->second;
  }
  Pick p;
  if (forced != algo::Algo::Auto) {
    p = {forced, modelChunk(forced, coll, count, type)};
  } else {
    auto choice = predict(coll, count, type);
    if (!choice.isOk()) return choice.takeStatus();
    p = {choice->best.algo, cost::usesChunks(choice->best.algo) ? choice->best.chunkBytes : chunkBytes_};
  }
  std::lock_guard lock(mu_);
  if (picks_.size() > 1024) picks_.clear();  // bounded: shapes of a training loop repeat
  picks_[key] = p;
  return p;
}

}  // namespace loom::core

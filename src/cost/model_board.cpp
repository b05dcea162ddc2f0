// The board's closed form (model.hpp, estimateBoard): what BoardRun does, per rank.
#include <fmt/format.h>

#include <algorithm>

#include "cost/model.hpp"

namespace loom::cost {

Result<Estimate> estimateBoard(const Tuning& t, const Placement& where, const algo::CollArgs& shape,
                               bool lowPrecision, bool loop) {
  using algo::Coll;
  const int n = where.nranks();
  if (!where.boardFits(shape.coll, shape.count, shape.elemSize))
    return invalidArgument(fmt::format("cost model: the board cannot run {} of {} elements here",
                                       algo::collName(shape.coll), shape.count));
  const double block = static_cast<double>(shape.count * shape.elemSize);
  const double posted = static_cast<double>(algo::boardPostBytes(shape.coll, shape.count, shape.elemSize, n));
  const bool reduces = algo::isReduction(shape.coll);
  const double copyRate = t.copyRate(true);
  const double reduceRate = t.reduceRate(true, lowPrecision);
  // Entries another core just wrote are read as a single copy is (another rank's data, through
  // the caches), after polling their flags: a message's time on the receiver's thread, once per
  // call (the polls of several entries overlap), and part of the handoff's latency.
  const double shmRate = t.singleCopyRate(true);
  const double msgUs = t.shm.threadUs();
  const int cores = where.coresOfHost.empty() ? 1 : std::max(where.coresOfHost[0], 1);
  const double stretch = std::max(1.0, static_cast<double>(n) / cores);
  const bool crowded = n > cores;

  // One-to-many and many-to-one calls overlap in a loop: the posting side runs ahead, so a reader
  // finds its entries posted and its poll costs no message time (a 2-rank broadcast of 1 KiB
  // measured 0.25 us a call on both VMs, against 0.49 and 0.46 with it).
  const bool overlaps = shape.coll == Coll::Broadcast || shape.coll == Coll::Reduce;
  double worst = 0, sumWork = 0, maxWork = 0, worstCopy = 0, worstReduce = 0, sumLoopWork = 0, maxLoopWork = 0;
  for (int r = 0; r < n; ++r) {
    const auto [posts, reads] = algo::boardRole(shape.coll, r, shape.root, n);  // reads: own entry included
    const int remote = reads == n ? n - 1 : reads;
    const double poll = remote ? msgUs : 0;
    const double copy = (posts ? usFor(posted, copyRate) : 0) + poll + usFor(remote * block, shmRate) +
                        (reads == n && !reduces ? usFor(block, copyRate) : 0);
    const double reduce = reduces && reads > 1 ? usFor((reads - 1) * block, reduceRate) : 0;
    const double work = t.opUs + copy + reduce;
    const double wait = remote ? t.shm.alphaUs - msgUs + (crowded ? t.wakeUs : 0) : 0;
    const double total = stretch * work + wait;
    if (total > worst) worst = total, worstCopy = copy, worstReduce = reduce;
    sumWork += work;
    maxWork = std::max(maxWork, work);
    sumLoopWork += work - poll;
    maxLoopWork = std::max(maxLoopWork, work - poll);
  }
  Estimate e;
  e.algo = algo::Algo::Board;
  e.us = worst;
  e.shmBytes = static_cast<uint64_t>(posted);
  e.messages = 1;
  e.bottleneck = worstReduce > worstCopy && worstReduce > t.shm.alphaUs ? "reduce"
                 : worstCopy > t.shm.alphaUs                            ? "shm"
                                                                        : "latency";
  e.busiestCoreUs = std::max(maxWork, sumWork / cores);
  if (loop) {
    // Overlapping calls cost the busiest core's work per call. Where every rank reads every rank,
    // each call waits for all.
    e.loopUs = overlaps ? std::max(maxLoopWork, sumLoopWork / cores) : worst;
  }
  return e;
}

}  // namespace loom::cost

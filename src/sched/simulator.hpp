// Runs the schedules of all ranks of one collective in this process over in-memory buffers,
// moving and reducing real data, in a random order that respects every dependency (seeded, so
// a failure replays). A missing dependency shows up as wrong data for some seed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/status.hpp"
#include "mem/reduce.hpp"
#include "sched/schedule.hpp"

namespace loom::sched {

// A rank's user buffers; input and output may alias (in-place calls). Scratch is allocated by
// the simulator, filled with garbage so reads of unwritten scratch show.
struct RankBuffers {
  void* input = nullptr;
  size_t inputBytes = 0;
  void* output = nullptr;
  size_t outputBytes = 0;
};

// Order model: a ready local step runs at once when picked; a message step is first posted
// (in step order per peer and direction), and a matched pair transfers when picked after both
// sides are posted, reading the sender's bytes at that moment. Picks are uniform among every
// enabled action. Returns invalidArgument for out-of-bounds spans, unmatched messages, size
// mismatches or a deadlock (no enabled action while steps remain).
Status simulate(const std::vector<Schedule>& perRank, std::vector<RankBuffers>& bufs, mem::ReduceFn reduce,
                size_t elemSize, uint64_t seed = 1);

}  // namespace loom::sched

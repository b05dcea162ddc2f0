// Static checks of a set of per-rank schedules (one collective, all ranks): spans in bounds,
// dependencies backwards, every send matched by exactly one receive of equal size (FIFO per
// ordered pair), no deadlock under rendezvous semantics, and no racing accesses inside a rank.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/status.hpp"
#include "sched/schedule.hpp"

namespace loom::sched {

// The user buffers of one rank. When `aliased`, Input and Output are the same memory and
// Output starts at Input + outputOffset bytes (negative when Output starts before Input).
struct BufferSizes {
  size_t inputBytes = 0;
  size_t outputBytes = 0;
  bool aliased = false;
  int64_t outputOffset = 0;
};

struct ValidateOptions {
  // The race check builds the transitive closure of each schedule's dependencies: O(steps^2)
  // bits of memory and O(steps^2 / 64) time per rank, plus a sweep over overlapping spans.
  // Schedules longer than raceCheckMaxSteps skip it (the other checks are linear).
  bool checkRaces = true;
  size_t raceCheckMaxSteps = 16384;
};

// perRank[r] is rank r's schedule, sizes[r] its buffers. OK, or invalidArgument naming the
// first problem found (rank, step index, and what is wrong).
//
// Deadlock model: a step starts once its dependencies have completed and, for a Send (Recv),
// once every earlier Send to (Recv from) the same peer has started: executors post messages
// to a peer in step order. Local steps complete when they start; a Send and its matching
// Recv complete together once both have started (a send may not finish before its receive is
// posted, the strictest transport behaviour).
Status validate(const std::vector<Schedule>& perRank, const std::vector<BufferSizes>& sizes,
                const ValidateOptions& options = {});

}  // namespace loom::sched

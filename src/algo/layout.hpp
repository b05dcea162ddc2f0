// The byte sizes of a rank's Input and Output for a collective call, and how they alias when
// the call is in place (collective.hpp gives the conventions). Used by tests, the simulator
// driver and the planner to allocate and check buffers.
#pragma once

#include "algo/collective.hpp"
#include "sched/validator.hpp"

namespace loom::algo {

// Assumes args already passed makeSchedule's checks (rank/root in range, vector sizes).
sched::BufferSizes bufferSizes(const CollArgs& args);

}  // namespace loom::algo

// The replay behind model.hpp's estimates (replay.cpp), for model.cpp only.
#pragma once

#include <cstdint>
#include <vector>

#include "cost/model.hpp"

namespace loom::cost::detail {

// Plays every rank's schedule on the machine model of model.hpp; footprint: one rank's buffers
// (input, output, scratch); joins: per rank, the free step joining two calls of a schedule run
// twice back to back (empty: none).
Result<Estimate> replaySchedules(const Tuning& t, const Placement& where, const std::vector<sched::Schedule>& perRank,
                                 bool lowPrecision, size_t footprint, std::vector<uint32_t> joins = {});

}  // namespace loom::cost::detail

// A schedule plus the indexes the executor needs to run it quickly: dependents of each step
// (CSR), initial dependency counts, and each peer's sends and receives in step order. Built once
// per distinct collective call shape and cached by the communicator.
#pragma once

#include <cstdint>
#include <vector>

#include "sched/schedule.hpp"

namespace loom::core {

struct PreparedSchedule {
  sched::Schedule schedule;
  std::vector<uint32_t> dependentsStart;  // size steps+1
  std::vector<uint32_t> dependents;
  std::vector<uint32_t> initialDeps;      // per step
  // Per peer, in step order: the steps that send to it / receive from it.
  std::vector<std::vector<uint32_t>> sendsTo, recvsFrom;
  std::vector<uint32_t> roots;            // steps with no dependencies
  size_t inputExtent = 0, outputExtent = 0; // bytes of Input/Output the schedule touches
  // Every receive of the collective copies (it reduces nothing): a sender may wait briefly for
  // its peer's receive to let it read in place (transport::Fabric::postSend).
  bool receivesCopy = false;

  static PreparedSchedule prepare(sched::Schedule s, int nranks, bool receivesCopy = false);
};

}  // namespace loom::core

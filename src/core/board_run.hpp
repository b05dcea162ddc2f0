// Runs one collective on the board (transport::Fabric's boardXxx, shm_board.cpp): a rank posts
// its input once and reads the peers' entries it needs, reducing in rank order so every rank
// gets the same bits. It has the interface of ScheduleRun, so the engine drives both alike
// (deadline, abort, progress board, hang report).
#pragma once

#include <cstdint>
#include <string>

#include "algo/algorithms.hpp"
#include "core/call_descriptor.hpp"
#include "core/executor.hpp"
#include "core/status.hpp"
#include "mem/reduce.hpp"
#include "transport/fabric.hpp"

namespace loom::core {

// What a board call needs beyond the buffers: the call as every rank must have made it.
struct BoardCall {
  CallDescriptor call{};
  size_t elemSize = 1;
  int nranks = 1;
};

class BoardRun {
 public:
  // `number`: this call's place among the communicator's board calls (equal on every rank).
  BoardRun(const BoardCall& call, uint64_t number, RunBuffers buffers, transport::Fabric& fabric,
           mem::ReduceFn reduce, int rank);
  BoardRun(const BoardRun&) = delete;
  BoardRun& operator=(const BoardRun&) = delete;

  // Does whatever can be done now; true if anything moved.
  bool advance();
  bool finished() const { return failed_ || phase_ == Phase::Done; }
  const Status& status() const { return status_; }
  // Gives up. Nothing of ours is queued in the fabric (our entry is our own memory), so this
  // only records why.
  void abandon(const Status& why) { fail(why); }
  // What it still waits for, for timeout diagnostics.
  std::string pendingSummary() const;

 private:
  enum class Phase { Post, Read, Done };
  void post();
  bool take(int peer, const transport::wire::BoardHeader& entry);  // false: failed
  void fail(Status s);
  // The rank whose entry is this rank's i-th read: the root's for a broadcast, else rank order
  // (the reduction's order).
  int readFrom(int i) const;

  size_t count_;  // elements per block
  algo::Coll coll_;
  uint64_t number_;
  RunBuffers buf_;
  transport::Fabric& fabric_;
  mem::ReduceFn reduce_;
  int rank_, n_;
  size_t block_;      // count * elemSize
  size_t postBytes_;  // what a rank posts
  algo::BoardRole role_;  // posts or not, entries read (no list of peers: an allocation per small call costs what the call does)
  transport::wire::BoardTag tag_;  // the call as posted, and as every entry read must say
  int root_;
  int nextRead_ = 0;  // entries read so far
  const char* first_ = nullptr;  // the first entry of a reduction, reduced with the second
  Phase phase_ = Phase::Post;
  bool failed_ = false;
  Status status_;
};

}  // namespace loom::core

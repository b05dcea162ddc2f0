// Building blocks of the hierarchical algorithms (hier.cpp): a step emitter that derives every
// dependency from the bytes a step touches, and ring / chain phases over an arbitrary ordered
// subset of ranks and arbitrary element ranges ("segments"), so one phase can run inside a host
// or across hosts on any part of a buffer.
//
// Why derive dependencies: a hierarchical schedule chains three phases whose chunkings differ
// (an intra-host block, an inter-host sub-block, a rail's set of blocks), and in-place calls alias
// Input with Output. Recording, per buffer byte range, the last writer and the readers since,
// gives each step exactly the read-after-write, write-after-read and write-after-write edges it
// needs at chunk granularity, so phases overlap wherever the data allow and never race.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "algo/generators.hpp"
#include "sched/validator.hpp"

namespace loom::algo::detail {

class Emitter {
 public:
  Emitter(const CollArgs& a, sched::Schedule& s);
  ~Emitter();  // sets the schedule's scratchBytes to the highest scratch byte used
  // Appends `st` after every earlier step it conflicts with. A Copy onto itself (in place) is
  // not emitted: the executor would skip it.
  void add(const sched::Step& st);
  size_t elemSize() const { return es_; }
  size_t chunkElems() const { return chunkElems_; }

 private:
  // What happened last to a byte range of one buffer space: its last writer and the readers
  // since. Cells of a space are disjoint, keyed by their first byte.
  struct Cell {
    int64_t hi;
    uint32_t writer;
    std::vector<uint32_t> readers;
  };
  struct Mapped {
    int space;
    int64_t lo, hi;
  };
  Mapped map(const sched::Span& sp) const;
  // Splits and fills the cells of a space so that exactly cells cover [lo, hi); returns the first.
  std::map<int64_t, Cell>::iterator cover(const Mapped& m);
  sched::Schedule& s_;
  sched::BufferSizes sz_;
  size_t es_, chunkElems_, scratchEnd_ = 0;
  std::map<int64_t, Cell> cells_[3];
};

// Where a piece of a segment lives on this rank. x: element range in the phase's logical
// coordinates; rel: element offset of x inside its owner's segment list (for compact staging);
// st, final: the ring step writing it (reduce-scatter accumulators only).
using SpanOf = std::function<sched::Span(Range x, size_t rel, int st, bool final)>;

// A ring over `group` (ranks in ring order; `me` is this rank's position); position q owns the
// segments blocks[q] (all ranks pass the same blocks). Each segment is cut into chunks.
struct SubRing {
  std::vector<int> group;
  int me = 0;
  std::vector<std::vector<Range>> blocks;
};

// Appends r to a segment list, merging it into the last segment when contiguous.
void addSeg(std::vector<Range>& segs, Range r);

// Reduce-scatter: afterwards position me holds blocks[me] reduced over the group at acc(..., final
// = true). Step 0 sends from contrib; later steps from the previous step's accumulator;
// arrivals are folded with RecvReduce(contrib, acc). Groups of one emit nothing.
void ringReduceScatterOn(Emitter& e, const SubRing& g, const SpanOf& contrib, const SpanOf& acc);
// Allgather: every position's blocks, present at loc on their owner, end at loc everywhere.
void ringAllGatherOn(Emitter& e, const SubRing& g, const SpanOf& loc);
// Pipelined chain chain[0] -> chain[1] -> ...: the head sends from src, the others receive into
// dst and forward from there. `me` < 0 or a chain of one: nothing.
void chainBroadcastOn(Emitter& e, const std::vector<int>& chain, int me, const std::vector<Range>& segs,
                      const SpanOf& src, const SpanOf& dst);
// Pipelined chain reduce towards chain[0]: the tail sends contrib, the others fold the arrival
// into acc (RecvReduce(contrib, acc)) and forward acc; chain[0] ends with the sum at acc.
void chainReduceOn(Emitter& e, const std::vector<int>& chain, int me, const std::vector<Range>& segs,
                   const SpanOf& contrib, const SpanOf& acc);

}  // namespace loom::algo::detail

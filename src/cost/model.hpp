// The cost model: predicts a collective's time by replaying the schedules the library would run
// (every rank's, from src/algo) on a model of the machine, so an algorithm's steps and bytes per
// link are never restated by hand.
//
// Machine model: each rank is one progress thread. A message is a two-stage pipeline: the sender
// copies it into the shm ring or the socket, the receiver copies (or reduces) it out, starting
// once the first fragment is in (alpha later) and ending one fragment after the sender; a sender
// runs at most a ring (a socket buffer) ahead. A local copy or reduction occupies its rank.
// Dependencies and FIFO matching order the work. On a host with more ranks than cores the ranks
// are bound round-robin to its cores and a core runs one rank's work at a time; its messages pay
// a wake-up (its ranks sleep rather than spin), which takes the receiver's core. On any host a
// shm receiver on another core than its sender reads an in-cache message at the single-copy
// cache rate. When a rank's buffers fit in its share of the cache (the tuning's measured knee, or
// the last-level cache), copies, reductions and transfers use the cache-speed rates of the tuning;
// beyond kMemoryRefBytes of working set per rank, its copies and reductions fall as the copy curve
// does, and the links' rates beyond kLinkRefBytes of the host's working set (all its ranks').
// A sender forwarding a chunk it has just received (one that fits its cache share) reads it at
// the cache-speed rate.
// The result is the time the last rank finishes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "algo/algorithms.hpp"
#include "cost/tuning.hpp"

namespace loom::cost {

// Where the ranks run: host index per rank and cores per host (index = host).
struct Placement {
  std::vector<int> hostOf;
  std::vector<int> coresOfHost;
  // Network bandwidth of each host in GB/s (all its NICs; 0 or missing = unknown): messages
  // between hosts go no faster than the calibrated tcp rate nor this share per local rank.
  std::vector<double> nicGbpsOfHost;
  // Cache each rank may count on (last level, shared by the host's ranks); 0 = unknown.
  std::vector<double> cacheBytesOfHost;
  // Every pair talks over tcp, same host or not (LOOM_TRANSPORT=tcp).
  bool tcpOnly = false;
  // The shm rings (LOOM_SHM_SLOT_BYTES, LOOM_SHM_SLOTS): how messages fragment, how far ahead a
  // sender may run.
  size_t shmSlotBytes = 256 << 10;
  int shmSlots = 8;
  // How far a tcp sender may run ahead of its receiver (LOOM_TCP_BUFFER_BYTES).
  size_t tcpBufferBytes = 4 << 20;
  // Payload bytes of a board entry (LOOM_SHM_BOARD_BYTES; a communicator sets what its fabric
  // has); 0: no board.
  size_t boardBytes = 16 << 10;
  // Shm messages of the user's input from this size may go single copy (LOOM_SHM_CMA_BYTES; a
  // communicator sets 0 where its fabric cannot); 0: never.
  size_t shmCmaBytes = 16 << 10;
  // tcpOnly from LOOM_TRANSPORT, the rings from LOOM_SHM_SLOT_BYTES and LOOM_SHM_SLOTS (rounded as
  // the transport does), shmCmaBytes from LOOM_SHM_CMA_BYTES.
  void readTransportParams();

  int nranks() const { return static_cast<int>(hostOf.size()); }
  int numHosts() const;
  // The board can run this call: one host, shm, a board whose entries hold what a rank posts.
  bool boardFits(algo::Coll coll, size_t count, size_t elemSize) const;
  // One host with more ranks than cores: launchers bind such ranks round-robin (loomrun does),
  // and the trees pair neighbours first (algo::CollArgs::neighboursFirst).
  bool crowdedOneHost() const;
  // Every rank on one host (a single host with `cores` cores).
  static Placement singleHost(int nranks, int cores);
  // nranks spread in blocks over `hosts` hosts of `cores` cores each.
  static Placement blocks(int nranks, int hosts, int cores);
};

struct Estimate {
  algo::Algo algo = algo::Algo::Ring;
  size_t chunkBytes = 0;
  double us = 0;      // one call
  double loopUs = -1;  // per call when the same call repeats back to back (estimate(..., loop)); -1: not asked
  uint64_t shmBytes = 0;  // the most bytes one rank sends over shared memory
  uint64_t tcpBytes = 0;  // ... over tcp
  uint64_t messages = 0;  // the most messages one rank sends
  double busiestCoreUs = 0;  // the work of the busiest core (a loop of calls goes no faster)
  std::string bottleneck;  // where the last rank spent most time: latency, shm, tcp, reduce, copy
};

// `shape` gives the collective, count, element size, root and chunk size (rank, nranks and
// hostOf are taken from `where`). lowPrecision: 16- or 8-bit float reductions.
// With `loop`, also the time per call of a loop of such calls (Estimate::loopUs): consecutive
// calls overlap where a rank may start the next before the others finish (a broadcast's root
// runs ahead), so it can be less than one call's critical path, but not less than the busiest
// core's work per call. Twice the replay work.
Result<Estimate> estimate(const Tuning& t, const Placement& where, algo::CollArgs shape, algo::Algo a,
                          bool lowPrecision = false, bool loop = false);

// One call of hand-made schedules, one per rank of `where` (what estimate() replays for an
// algorithm's; tests build them step by step).
Result<Estimate> replay(const Tuning& t, const Placement& where, const std::vector<sched::Schedule>& perRank,
                        bool lowPrecision = false);

// The board's closed form (model_board.cpp): it has no schedule to replay. One call: the call
// overhead, the copy of the posted input, one cache-line handoff (shm alpha), then the entries read
// (copied, or reduced, at the cached shm and reduce rates), the work stretched by ranks per core on
// a crowded host, which also pays one wake-up. In a loop a broadcast or reduce overlaps calls (the
// posting side runs up to the board's depth ahead): per call, the busiest core's work.
Result<Estimate> estimateBoard(const Tuning& t, const Placement& where, const algo::CollArgs& shape,
                               bool lowPrecision, bool loop);

struct Choice {
  Estimate best;
  std::vector<Estimate> candidates;  // every algorithm (and chunk size tried), in catalogue order
  // Lists e; it becomes the best if its time per call in a loop is less (ties: the one listed first).
  void add(const Estimate& e) {
    candidates.push_back(e);
    if (candidates.size() == 1 || e.loopUs < best.loopUs) best = e;
  }
};

// Every algorithm implementing the collective, with each of `chunks` for those that pipeline
// (empty: shape.chunkBytes only), and the board where it fits, each estimated with `loop`. The least time per call in a loop
// wins (collectives mostly come back to back: gradient buckets, layer after layer; choosing by one
// call alone put 129 of 160 measured cases within 10% of the best, by the loop 135); ties go to the
// earlier in the catalogue.
Result<Choice> choose(const Tuning& t, const Placement& where, const algo::CollArgs& shape,
                      const std::vector<size_t>& chunks = {}, bool lowPrecision = false);

// choose() for one algorithm: each of `chunks` where it pipelines (else shape.chunkBytes only). A
// forced algorithm runs the chunk this picks (core/selection.cpp).
Result<Choice> chooseChunk(const Tuning& t, const Placement& where, const algo::CollArgs& shape, algo::Algo a,
                           const std::vector<size_t>& chunks, bool lowPrecision = false);

// The chunk sizes selection tries around a base: base / 4, base, base * 4.
std::vector<size_t> chunkCandidates(size_t base);

// Whether the chunk size changes the algorithm's schedule (pipelined algorithms).
bool usesChunks(algo::Algo a);

}  // namespace loom::cost

// The cost model: closed forms on tiny schedules, the choices it must make on synthetic machines,
// and the tuning file's round trip and errors.
#include <fmt/format.h>
#include <cmath>
#include <gtest/gtest.h>

#include "cost/model.hpp"
#include "transport/shm_fragments.hpp"

namespace loom::cost {
namespace {

using algo::Algo;
using algo::Coll;

Tuning simple() {
  Tuning t;
  t.shm = {2.0, 10.0};   // 2 us, 10 GB/s = 1e4 B/us
  t.tcp = {20.0, 1.0};   // 20 us, 1e3 B/us
  t.copyGbps = 20;
  t.reduceGbps = 10;
  t.reduceLowGbps = 5;
  t.stepUs = 0;
  t.opUs = 0;
  t.wakeUs = 30;
  return t;
}

// One host of `cores` cores whose messages all go through the rings (no single copy).
Placement ringOnly(int nranks, int cores) {
  Placement p = Placement::singleHost(nranks, cores);
  p.shmCmaBytes = 0;
  return p;
}

algo::CollArgs shape(Coll c, size_t count, size_t elem = 4, size_t chunk = 512 << 10) {
  algo::CollArgs a;
  a.coll = c;
  a.count = count;
  a.elemSize = elem;
  a.chunkBytes = chunk;
  return a;
}

TEST(CostModel, TwoRankBroadcastIsOneMessage) {
  // Tree broadcast over 2 ranks out of place: one message of B bytes in four fragments of
  // F = 25024 (a quarter, rounded up to 64), and the root's copy of its input to its output,
  // after the message (a progress pass runs before local work, executor.cpp). The receiver starts
  // once the first fragment is in and ends one fragment after the sender: alpha + F / bw + B / bw;
  // the root ends after B / bw + B / copy, which is later.
  const size_t count = 25000;  // 100000 bytes
  const double frag = 25024 / 1e4;
  auto e = estimate(simple(), ringOnly(2, 2), shape(Coll::Broadcast, count), Algo::Tree);
  ASSERT_TRUE(e.isOk()) << e.status().message();
  EXPECT_NEAR(e->us, std::max(2.0 + frag + 100000 / 1e4, 100000 / 1e4 + 100000 / 2e4), 1e-6);
  EXPECT_EQ(e->shmBytes, 100000u);
  EXPECT_EQ(e->tcpBytes, 0u);
  EXPECT_EQ(e->messages, 1u);
  EXPECT_EQ(e->bottleneck, "shm");

  // Across two hosts the same message goes over tcp, read out in 64 KiB socket reads.
  auto x = estimate(simple(), Placement::blocks(2, 2, 4), shape(Coll::Broadcast, count), Algo::Tree);
  ASSERT_TRUE(x.isOk());
  EXPECT_NEAR(x->us, 20.0 + 65536 / 1e3 + 100000 / 1e3, 1e-6) << "the root's copy is off the path";
  EXPECT_EQ(x->tcpBytes, 100000u);
  EXPECT_EQ(x->bottleneck, "tcp");
  EXPECT_EQ(x->loopUs, -1) << "not asked for";
}

// Where the trees pair neighbours first (CollArgs::neighboursFirst, set from this in the model
// and the communicator): one host with more ranks than cores, where launchers bind round-robin.
TEST(CostModel, CrowdedOneHostMeansMoreRanksThanCoresOnOneHost) {
  EXPECT_TRUE(Placement::singleHost(4, 2).crowdedOneHost());
  EXPECT_FALSE(Placement::singleHost(2, 2).crowdedOneHost());
  EXPECT_FALSE(Placement::singleHost(4, 8).crowdedOneHost());
  EXPECT_FALSE(Placement::blocks(8, 2, 2).crowdedOneHost());
  EXPECT_FALSE(Placement{}.crowdedOneHost());
}

TEST(CostModel, LoopOverlapsConsecutiveBroadcasts) {
  // Calls back to back: over shm the receiver's copy-out of one broadcast overlaps the root's
  // next call, so the root's own two copies (into the ring, then input -> output) set the pace:
  // B / copy + B / bw per call, as one call alone here (TwoRankBroadcastIsOneMessage).
  const size_t count = 25000;  // 100000 bytes
  auto e = estimate(simple(), ringOnly(2, 2), shape(Coll::Broadcast, count), Algo::Tree, false, true);
  ASSERT_TRUE(e.isOk()) << e.status().message();
  EXPECT_NEAR(e->us, std::max(2.0 + 25024 / 1e4 + 100000 / 1e4, 100000 / 2e4 + 100000 / 1e4), 1e-6);
  EXPECT_NEAR(e->loopUs, 100000 / 2e4 + 100000 / 1e4, 1e-6);
  // Over tcp alike: the sender writes the next call's message while the receiver reads this one.
  auto x = estimate(simple(), Placement::blocks(2, 2, 4), shape(Coll::Broadcast, count), Algo::Tree, false, true);
  ASSERT_TRUE(x.isOk());
  EXPECT_NEAR(x->loopUs, 100000 / 2e4 + 100000 / 1e3, 1e-6);
  EXPECT_LT(x->loopUs, x->us);
  // An allreduce's next call needs every rank's contribution to this one: no overlap either.
  auto r = estimate(simple(), Placement::singleHost(2, 2), shape(Coll::AllReduce, count), Algo::Ring, false, true);
  ASSERT_TRUE(r.isOk());
  EXPECT_NEAR(r->loopUs, r->us, 1e-6);
}

// Single copy (LOOM_SHM_CMA_BYTES), by the transport's rule: the receiver alone reads a message of
// the sender's input while the sender goes on, when it has a receive of its own posted or the
// message is below kCmaOneWayBytes (on crowded cores: a receive from the same peer). So a 2-rank
// exchange in a loop costs a rank its own copy and one read, not two copies and a read.
TEST(CostModel, SingleCopyWhereTheTransportTakesIt) {
  const size_t count = 25000;  // 100000 bytes a block
  auto loopUs = [&](Placement w, Coll c, Algo a, size_t cma) {
    w.shmCmaBytes = cma;
    auto e = estimate(simple(), w, shape(c, count), a, false, true);
    EXPECT_TRUE(e.isOk());
    return e.isOk() ? e->loopUs : -1;
  };
  const Placement two = Placement::singleHost(2, 2);
  const double ring = loopUs(two, Coll::AllToAll, Algo::Direct, 0);
  const double single = loopUs(two, Coll::AllToAll, Algo::Direct, 32 << 10);
  // Per rank and call: its own block (B / copy) and one read (B / bw; the descriptor, posted
  // first, arrived meanwhile), against its own block, its copy in and its copy out through the ring.
  EXPECT_NEAR(single, 100000 / 2e4 + 100000 / 1e4, 1e-6);
  EXPECT_NEAR(ring, 100000 / 2e4 + 2 * 100000 / 1e4, 1e-6);
  // Below the threshold, a reduce receive, a one-way send on crowded cores, or tcp: the ring as before.
  EXPECT_EQ(loopUs(two, Coll::AllToAll, Algo::Direct, 200000), ring);
  EXPECT_EQ(loopUs(two, Coll::ReduceScatter, Algo::Ring, 32 << 10), loopUs(two, Coll::ReduceScatter, Algo::Ring, 0));
  const Placement crowded = Placement::singleHost(2, 1);
  EXPECT_EQ(loopUs(crowded, Coll::Broadcast, Algo::Tree, 32 << 10), loopUs(crowded, Coll::Broadcast, Algo::Tree, 0));
  // ... which on free cores goes single copy.
  EXPECT_LT(loopUs(two, Coll::Broadcast, Algo::Tree, 32 << 10), loopUs(two, Coll::Broadcast, Algo::Tree, 0));
  // An exchange on crowded cores still goes single copy (each end reads the other's block); a
  // 4-rank ring's sender waits for data from another rank, not from its receiver: the ring.
  EXPECT_LT(loopUs(crowded, Coll::AllToAll, Algo::Direct, 32 << 10), loopUs(crowded, Coll::AllToAll, Algo::Direct, 0));
  const Placement fourCrowded = Placement::singleHost(4, 2);
  EXPECT_EQ(loopUs(fourCrowded, Coll::AllGather, Algo::Ring, 32 << 10),
            loopUs(fourCrowded, Coll::AllGather, Algo::Ring, 0));
  EXPECT_LT(loopUs(Placement::singleHost(4, 4), Coll::AllGather, Algo::Ring, 32 << 10),
            loopUs(Placement::singleHost(4, 4), Coll::AllGather, Algo::Ring, 0));
  Placement tcp = two;
  tcp.tcpOnly = true;
  EXPECT_EQ(loopUs(tcp, Coll::AllToAll, Algo::Direct, 32 << 10), loopUs(tcp, Coll::AllToAll, Algo::Direct, 0));
  // A one-way message: single copy (the descriptor's latency and the read, while the root copies
  // to its output). Past kCmaOneWayBytes too: the root is busy with its own copy meanwhile, and
  // leaves the read to the receiver (with nothing else to do it would take the ring, where both
  // cores copy: FabricSingleCopy.AOneWayStreamTakesTheRingUnlessTheSenderIsBusy).
  auto oneCall = [&](size_t n, size_t cma) {
    Placement w = two;
    w.shmCmaBytes = cma;
    auto e = estimate(simple(), w, shape(Coll::Broadcast, n), Algo::Tree);
    EXPECT_TRUE(e.isOk());
    return e.isOk() ? e->us : -1;
  };
  EXPECT_NEAR(oneCall(count, 32 << 10), 2.0 + 100000 / 1e4, 1e-6);
  const size_t big = transport::kCmaOneWayBytes / 4 + 16;  // elements: 64 bytes past kCmaOneWayBytes
  EXPECT_NEAR(oneCall(big, 32 << 10), 2.0 + big * 4 / 1e4, 1e-6);
  EXPECT_LT(oneCall(big, 32 << 10), oneCall(big, 0));
  // A one-way sender with no local work of its own (a gather's non-root rank): single copy up to
  // kCmaOneWayBytes, through the ring past it, as the transport judges the stream. (The root's
  // own copy made instant, so that its read of the message is what the call takes.)
  auto gatherUs = [&](size_t n, size_t cma) {
    Placement w = two;
    w.shmCmaBytes = cma;
    Tuning t = simple();
    t.copyGbps = 1e9;
    auto e = estimate(t, w, shape(Coll::Gather, n), Algo::Direct);
    EXPECT_TRUE(e.isOk());
    return e.isOk() ? e->us : -1;
  };
  EXPECT_EQ(gatherUs(big, 32 << 10), gatherUs(big, 0));
  EXPECT_LT(gatherUs(big - 16, 32 << 10), gatherUs(big - 16, 0));
  // Ring and halving-doubling allgather both send their own block from the input first.
  EXPECT_LT(loopUs(two, Coll::AllGather, Algo::Ring, 32 << 10), loopUs(two, Coll::AllGather, Algo::Ring, 0));
  EXPECT_LT(loopUs(two, Coll::AllGather, Algo::Rhd, 32 << 10), loopUs(two, Coll::AllGather, Algo::Rhd, 0));
  // In cache the read runs at the measured single-copy rate, not at the link's cache rate.
  Tuning hotRead = simple();
  hotRead.shm.cachedGbps = 20;
  hotRead.singleCopyCachedGbps = 5;
  Placement cached = two;
  cached.cacheBytesOfHost = {1e9};
  auto hot = estimate(hotRead, cached, shape(Coll::Broadcast, count), Algo::Tree);
  ASSERT_TRUE(hot.isOk());
  EXPECT_NEAR(hot->us, 2.0 + 100000 / 5e3, 1e-6);
  // Each read call (up to 4 MiB) costs single_copy_us beyond its bytes: a 9 MiB message, three.
  Tuning perCall = simple();
  perCall.singleCopyUs = 3;
  Placement w = two;
  w.shmCmaBytes = 32 << 10;
  auto one = estimate(perCall, w, shape(Coll::Broadcast, count), Algo::Tree);
  const size_t nine = (9 << 20) / 4;
  auto three = estimate(perCall, w, shape(Coll::Broadcast, nine), Algo::Tree);
  ASSERT_TRUE(one.isOk() && three.isOk());
  EXPECT_NEAR(one->us, 2.0 + 3.0 + 100000 / 1e4, 1e-6);
  EXPECT_NEAR(three->us, 2.0 + 3 * 3.0 + (9 << 20) / 1e4, 1e-6);
}

// A direct allgather sends every block from the user's input, so over shm each goes single copy,
// on crowded cores too (every pair is an exchange): a rank copies each block once, where a ring
// or halving-doubling forwards blocks it has just received through the rings (two copies). The
// model prices the difference and chooses it for a large 4-rank allgather on 2 cores; without
// single copy the three move the same bytes.
TEST(CostModel, DirectAllGatherCopiesEachBlockOnceOverSharedMemory) {
  Placement crowded = Placement::singleHost(4, 2);
  crowded.shmCmaBytes = 16 << 10;
  auto c = choose(simple(), crowded, shape(Coll::AllGather, 2 << 20), {512 << 10});
  ASSERT_TRUE(c.isOk()) << c.status().message();
  EXPECT_EQ(c->best.algo, Algo::Direct);
  double direct = 0, others = 1e30;
  for (const Estimate& e : c->candidates) {
    if (e.algo == Algo::Direct) direct = e.loopUs;
    else others = std::min(others, e.loopUs);
  }
  // Not by as much as the copies suggest: on crowded cores each rank drains the blocks that have
  // arrived before it copies its own (a progress pass before local work), and waits on them.
  EXPECT_LT(direct, 0.9 * others);
  auto off = estimate(simple(), ringOnly(4, 2), shape(Coll::AllGather, 2 << 20), Algo::Direct, false, true);
  ASSERT_TRUE(off.isOk());
  EXPECT_GT(off->loopUs, direct * 1.25) << "through the rings, each block costs two copies";
}

// Messages larger than the ring (8 slots of 256 KiB): a sender waiting for ring space goes on
// with its other messages, so an exchange costs each thread its copies in and out, not a send
// held until the peer has drained it followed by the peer's message.
TEST(CostModel, ExchangeBeyondTheRingKeepsBothThreadsBusy) {
  const size_t count = 2 << 20;  // 8 MiB a block
  const double b = 4.0 * count;
  auto e = estimate(simple(), ringOnly(2, 2), shape(Coll::AllToAll, count), Algo::Direct);
  ASSERT_TRUE(e.isOk()) << e.status().message();
  // B / bw in and B / bw out, then its own block (B / copy): the sends go first (a progress pass
  // runs before local work), and the copy hides the last fragment's alpha and copy out (holding
  // the sender made it 2307 us).
  EXPECT_NEAR(e->us, b / 2e4 + 2 * b / 1e4, 1e-6);
}

// More ranks than cores: a core runs one rank's work at a time, and waking a sleeping receiver
// takes its core's time too.
TEST(CostModel, OversubscribedCoreRunsOneRankAtATime) {
  const size_t count = 25000;  // 100,000 bytes: copy 5 us, through the ring 10 us each way
  auto fit = estimate(simple(), Placement::singleHost(2, 2), shape(Coll::Broadcast, count), Algo::Tree);
  auto over = estimate(simple(), Placement::singleHost(2, 1), shape(Coll::Broadcast, count), Algo::Tree);
  ASSERT_TRUE(fit.isOk() && over.isOk());
  // The root's copy into the ring, the receiver's wake-up and copy out (the alpha and the first
  // fragment pass while the root still holds the core), then the root's copy to its output.
  EXPECT_NEAR(over->us, 5.0 + 10.0 + 30.0 + 10.0, 1e-6);
  EXPECT_GT(over->us, fit->us);
}

// Four ranks on two cores, bound round-robin (0 and 2 on one core, 1 and 3 on the other): the
// neighbours-first tree sends 0 -> 1, then 0 -> 2 and 1 -> 3. Work on different cores overlaps;
// on one core it queues.
TEST(CostModel, CrowdedRanksShareTheirCoreOnly) {
  const size_t count = 25000;
  auto e = estimate(simple(), Placement::singleHost(4, 2), shape(Coll::Broadcast, count), Algo::Tree);
  ASSERT_TRUE(e.isOk()) << e.status().message();
  const double first = 2.0 + 2.5024;  // alpha, then the first fragment (25,024 B) into the ring
  // Rank 1 is woken and copies out once the root's first fragment is in (40 us with the wake-up),
  // copies into rank 3's ring (10), and rank 3, on its core, is woken and copies out after it.
  // The root sends before it copies its input to its output (5 us on the other core).
  EXPECT_NEAR(e->us, first + 40.0 + 10.0 + 40.0, 1e-6);
}

TEST(CostModel, TimeGrowsWithSize) {
  for (Coll c : {Coll::AllReduce, Coll::AllGather, Coll::ReduceScatter, Coll::Broadcast})
    for (Algo a : algo::algorithmsFor(c)) {
      double prev = -1;
      for (size_t count : {1u, 1000u, 100000u, 1000000u}) {
        auto e = estimate(simple(), Placement::singleHost(4, 4), shape(c, count), a);
        ASSERT_TRUE(e.isOk()) << algo::algoName(a) << ": " << e.status().message();
        EXPECT_GT(e->us, prev) << algo::collName(c) << " " << algo::algoName(a) << " count " << count;
        prev = e->us;
      }
    }
}

TEST(CostModel, ChoosesLatencyAlgorithmsSmallAndRingLarge) {
  const Placement p = Placement::singleHost(8, 8);
  auto small = choose(simple(), p, shape(Coll::AllReduce, 2));
  ASSERT_TRUE(small.isOk());
  EXPECT_NE(small->best.algo, Algo::Ring) << "8 bytes over 8 ranks: 14 ring steps lose to log2(8)";
  auto large = choose(simple(), p, shape(Coll::AllReduce, 64 << 20));
  ASSERT_TRUE(large.isOk());
  EXPECT_TRUE(large->best.algo == Algo::Ring || large->best.algo == Algo::Rhd)
      << "256 MiB: a bandwidth-optimal algorithm, got " << algo::algoName(large->best.algo);
  size_t flat = 0;  // hier is no candidate on one host
  for (Algo a : algo::algorithmsFor(Coll::AllReduce)) flat += algo::algoName(a) != "hier";
  EXPECT_EQ(large->candidates.size(), flat);
  for (const auto& c : large->candidates) EXPECT_GE(c.loopUs, large->best.loopUs) << "the least time in a loop wins";
}

TEST(CostModel, ChoosesAmongChunkSizes) {
  auto c = choose(simple(), Placement::singleHost(4, 4), shape(Coll::Broadcast, 16 << 20), {64 << 10, 1 << 20, 64 << 20});
  ASSERT_TRUE(c.isOk());
  size_t rings = 0;
  for (const auto& e : c->candidates) rings += e.algo == Algo::Ring;
  EXPECT_EQ(rings, 3u) << "each chunk size of the pipelined chain is a candidate";
  // A 64 MiB chunk makes the chain store-and-forward: the slowest of the three for one call (in a
  // loop the next call fills the pipeline, and the chunk size matters little).
  double slowest = 0;
  const Estimate* storeAndForward = nullptr;
  for (const auto& e : c->candidates) {
    if (e.algo != Algo::Ring) continue;
    slowest = std::max(slowest, e.us);
    if (e.chunkBytes == (64u << 20)) storeAndForward = &e;
  }
  ASSERT_NE(storeAndForward, nullptr);
  EXPECT_EQ(storeAndForward->us, slowest);
}

TEST(CostModel, SlowLinksAcrossHostsFavourAlgorithmsThatCrossLess) {
  // Two hosts of four ranks, interleaved so the flat ring crosses hosts at every hop.
  Placement p;
  p.hostOf = {0, 1, 0, 1, 0, 1, 0, 1};
  p.coresOfHost = {8, 8};
  auto ring = estimate(simple(), p, shape(Coll::AllReduce, 16 << 20), Algo::Ring);
  auto blocked = estimate(simple(), Placement::blocks(8, 2, 8), shape(Coll::AllReduce, 16 << 20), Algo::Ring);
  ASSERT_TRUE(ring.isOk() && blocked.isOk());
  EXPECT_GT(ring->tcpBytes, blocked->tcpBytes / 2) << "interleaved: every ring hop is remote";
  EXPECT_GT(ring->us, blocked->us);
}

// Two hosts of four ranks whose network is ten times slower than their shared memory: a large
// collective goes hierarchical (the flat ring crosses hosts at every hop of an interleaved
// placement and at two of eight in blocks), a tiny all-reduce stays on a latency algorithm.
TEST(CostModel, SelectsHierarchicalAcrossSlowNetwork) {
  const Placement blocks = Placement::blocks(8, 2, 8), interleaved{{0, 1, 0, 1, 0, 1, 0, 1}, {8, 8}, {}, {}, false};
  for (const Placement& where : {blocks, interleaved}) {
    for (Coll c : {Coll::AllReduce, Coll::AllGather, Coll::ReduceScatter}) {
      auto large = choose(simple(), where, shape(c, 16 << 20));
      ASSERT_TRUE(large.isOk()) << large.status().message();
      std::string all;
      const Estimate* hier = nullptr;
      for (const auto& e : large->candidates) {
        all += fmt::format(" {}={:.0f}", algo::algoName(e.algo), e.us);
        if (algo::algoName(e.algo) == "hier") hier = &e;
      }
      ASSERT_NE(hier, nullptr);
      if (&where == &blocks) {
        EXPECT_EQ(algo::algoName(large->best.algo), "hier") << algo::collName(c) << all;
      } else {
        // Interleaved, recursive doubling's first exchange is the only one across hosts: it is
        // as hierarchical as hier. Whatever wins must not send more over the network.
        EXPECT_NE(large->best.algo, Algo::Ring) << algo::collName(c) << all;
        EXPECT_LE(large->best.tcpBytes, hier->tcpBytes) << algo::collName(c) << all;
      }
    }
    auto tiny = choose(simple(), where, shape(Coll::AllReduce, 1));
    ASSERT_TRUE(tiny.isOk());
    EXPECT_NE(tiny->best.algo, Algo::Ring);
  }
  // On one host hier is no candidate at all.
  auto one = choose(simple(), Placement::singleHost(8, 8), shape(Coll::AllReduce, 16 << 20));
  ASSERT_TRUE(one.isOk());
  for (const auto& e : one->candidates) EXPECT_NE(algo::algoName(e.algo), "hier");
}

TEST(CostModel, NicBandwidthCapsCrossHostMessages) {
  Placement fast = Placement::blocks(2, 2, 4), slow = fast;
  slow.nicGbpsOfHost = {0.1, 0.1};  // 0.8 Gb/s NICs: below the 1 GB/s tcp rate
  auto a = estimate(simple(), fast, shape(Coll::Broadcast, 250000), Algo::Tree);
  auto b = estimate(simple(), slow, shape(Coll::Broadcast, 250000), Algo::Tree);
  ASSERT_TRUE(a.isOk() && b.isOk());
  // 1 MB and the first 64 KiB read at 0.1 GB/s instead of 1 GB/s
  EXPECT_NEAR(b->us - a->us, (1e6 + 65536) / 1e2 - (1e6 + 65536) / 1e3, 1e-6);
}

// The copy curve: log-log interpolation held at its ends, and the knee where copies fall below
// half of the smallest working set's rate.
TEST(CostModel, CopyCurveInterpolatesAndFindsTheCacheKnee) {
  Tuning t = simple();
  EXPECT_EQ(curveGbps(t, 1 << 20), 0);
  EXPECT_EQ(cacheKneeBytes(t), 0);
  t.copyCurve = {{1 << 20, 40}, {4 << 20, 30}, {16 << 20, 10}, {64 << 20, 5}};
  EXPECT_DOUBLE_EQ(curveGbps(t, 1 << 10), 40);
  EXPECT_DOUBLE_EQ(curveGbps(t, 1 << 30), 5);
  EXPECT_NEAR(curveGbps(t, 8 << 20), std::sqrt(30.0 * 10.0), 1e-9);  // halfway in log size
  EXPECT_DOUBLE_EQ(cacheKneeBytes(t), 4 << 20);
}

// A measured knee beats a reported last-level cache (a VM may report its host's whole cache),
// and beyond kMemoryRefBytes of working set the memory rates fall as the curve does.
TEST(CostModel, CopyCurveDecidesCacheAndMemoryTiers) {
  Tuning t = simple();
  t.copyCachedGbps = 40;
  Placement p = Placement::singleHost(1, 1);
  p.cacheBytesOfHost = {1e12};
  const auto s = shape(Coll::AllReduce, 1 << 20);  // 4 MiB in, 4 MiB out, one rank: one copy
  auto cached = estimate(t, p, s, Algo::Ring);
  ASSERT_TRUE(cached.isOk());
  EXPECT_NEAR(cached->us, (4 << 20) / 40e3, 1e-6) << "the topology says it fits";
  t.copyCurve = {{1 << 20, 40}, {2 << 20, 40}, {4 << 20, 19}, {8 << 20, 20}, {kMemoryRefBytes, 20}, {4 * kMemoryRefBytes, 10}};
  auto beyond = estimate(t, p, s, Algo::Ring);
  ASSERT_TRUE(beyond.isOk());
  EXPECT_NEAR(beyond->us, (4 << 20) / 20e3, 1e-6) << "8 MiB is past the 2 MiB knee: the memory rate";
  auto huge = estimate(t, p, shape(Coll::AllReduce, 32 << 20), Algo::Ring);  // 256 MiB of working set
  ASSERT_TRUE(huge.isOk());
  EXPECT_NEAR(huge->us, (128 << 20) / 10e3, 1e-6) << "four times kMemoryRefBytes: half the memory rate";
}

// A rank forwarding the message it has just received reads it from its cache when it fits there,
// though the whole working set does not: a 3-rank chain broadcast of 1.5 MiB (3 MiB of buffers
// per rank, past the 2 MiB knee) costs the middle rank B / bw in and B / cached bw out.
TEST(CostModel, ForwardingAFreshMessageReadsFromCache) {
  Tuning t = simple();
  t.shm.cachedGbps = 40;
  t.copyCurve = {{1 << 20, 40}, {2 << 20, 40}, {4 << 20, 19}, {kMemoryRefBytes, 20}};
  const double b = 1.5 * (1 << 20), frag = 256 << 10;
  auto e = estimate(t, ringOnly(3, 3), shape(Coll::Broadcast, 3 << 17, 4, 2 << 20), Algo::Ring, false, true);
  ASSERT_TRUE(e.isOk());
  // The root's send (its copy to its output follows, off the path), the first fragment's alpha
  // and copy out, the forward's first fragment at the cached rate, the last rank's copy out (from
  // memory the forward would arrive 19.7 us later).
  EXPECT_NEAR(e->us, b / 1e4 + 2.0 + frag / 1e4 + 2.0 + frag / 4e4 + b / 1e4, 0.5);
  // In a loop the root (send and copy to its output) is the busiest now, not the middle rank
  // (B / bw + B / bw from memory = 315 us).
  EXPECT_NEAR(e->loopUs, b / 1e4 + b / 2e4, 0.02 * b / 1e4);
}

// msg_us: the receiver's thread time per message, part of the link's latency. One message alone
// takes as long as without it; a loop of broadcasts, where the root runs ahead, is held to it.
TEST(CostModel, ReceiverTimePerMessageBoundsALoopNotOneCall) {
  Tuning t = simple();
  const Placement hosts = Placement::blocks(2, 2, 4);
  auto base = estimate(t, hosts, shape(Coll::Broadcast, 1), Algo::Tree, false, true);
  t.tcp.msgUs = 5;
  auto held = estimate(t, hosts, shape(Coll::Broadcast, 1), Algo::Tree, false, true);
  ASSERT_TRUE(base.isOk() && held.isOk());
  EXPECT_NEAR(held->us, base->us, 1e-9);
  // The root's copies: its send and the copy to its output. The second call's message leaves
  // before its receiver has posted the receive (the socket holds it), so the root's thread sends
  // first in both calls.
  EXPECT_NEAR(base->loopUs, 4 / 1e3 + 4 / 2e4, 1e-9) << "the root's copies";
  EXPECT_NEAR(held->loopUs, 5 + 4 / 1e3, 1e-9) << "the receiver's time per message and its read";
  t.tcp.msgUs = 50;  // more than the latency it is part of: the latency
  auto capped = estimate(t, hosts, shape(Coll::Broadcast, 1), Algo::Tree, false, true);
  ASSERT_TRUE(capped.isOk());
  EXPECT_NEAR(capped->us, base->us, 1e-9);
}

// A tcp receiver reads a reduce message into a staging buffer that stays in cache, then reduces
// it, one after the other on its thread (src/transport/tcp_channel.cpp), and goes no faster than
// its sender: in cache the read and the reduction add up; beyond, a slow sender hides them.
TEST(CostModel, TcpReduceReceiveStagesThenReduces) {
  Tuning t = simple();
  t.tcp = {20.0, 2.0, 10.0};  // 2 GB/s through memory, 10 in cache
  Placement cold = Placement::blocks(2, 2, 4);
  Placement hot = cold;
  hot.cacheBytesOfHost = {1e9, 1e9};
  auto rs = [&](const Placement& w, double reduceGbps) {
    Tuning u = t;
    u.reduceGbps = reduceGbps;
    auto e = estimate(u, w, shape(Coll::ReduceScatter, 25000), Algo::Ring);
    EXPECT_TRUE(e.isOk());
    return e.isOk() ? e->us : -1;
  };
  // 100000 bytes at 1 / (1/10 + 1/10) = 5 GB/s instead of at 10.
  EXPECT_NEAR(rs(hot, 10) - rs(hot, 1e9), 100000 / 5e3 - 100000 / 1e4, 1e-6);
  EXPECT_NEAR(rs(cold, 10), rs(cold, 1e9), 1e-6) << "the sender's 2 GB/s sets the pace";
}

// Over shm, where each rank has a core, a receive that reduces in cache straight out of the ring
// runs at the calibrated rate of such a receive where that is below the local reduction's (the
// other core's lines are read while reducing); a crowded host's receivers keep the local rate.
// A 2-rank ring reducescatter of 25000 floats a rank: one message of 100000 bytes, reduced as it
// arrives.
TEST(CostModel, ShmReduceReceiveAtTheCalibratedRateFromTheRing) {
  Tuning t = simple();  // shm 10 GB/s, reduce 10 GB/s
  t.shm.cachedGbps = t.copyCachedGbps = 40;
  t.reduceCachedGbps = 20;
  auto rs = [&](Placement w, double fromRing) {
    w.cacheBytesOfHost = {1e9};
    w.shmCmaBytes = 0;
    t.shm.recvReduceCachedGbps = fromRing;
    auto e = estimate(t, w, shape(Coll::ReduceScatter, 25000), Algo::Ring);
    EXPECT_TRUE(e.isOk());
    return e.isOk() ? e->us : -1;
  };
  const Placement own = Placement::singleHost(2, 2), crowded = Placement::singleHost(2, 1);
  EXPECT_NEAR(rs(own, 5) - rs(own, 0), 100000 / 5e3 - 100000 / 2e4, 1e-6) << "5 GB/s instead of 20";
  EXPECT_NEAR(rs(own, 50), rs(own, 0), 1e-9) << "no faster than the local reduction";
  EXPECT_NEAR(rs(crowded, 5), rs(crowded, 0), 1e-9) << "a crowded host's receivers";
}

TEST(CostModel, BoardFitsOneHostOverSharedMemoryAndItsEntries) {
  Placement p = Placement::singleHost(4, 4);
  p.boardBytes = 4096;
  EXPECT_TRUE(p.boardFits(Coll::AllReduce, 1024, 4));
  EXPECT_FALSE(p.boardFits(Coll::AllReduce, 1025, 4));
  EXPECT_TRUE(p.boardFits(Coll::AllToAll, 256, 4)) << "a rank posts all 4 blocks";
  EXPECT_FALSE(p.boardFits(Coll::AllToAll, 257, 4));
  EXPECT_FALSE(p.boardFits(Coll::Gather, 1, 4)) << "no board path";
  Placement tcp = p;
  tcp.tcpOnly = true;
  EXPECT_FALSE(tcp.boardFits(Coll::AllReduce, 1, 4));
  Placement two = Placement::blocks(4, 2, 2);
  EXPECT_FALSE(two.boardFits(Coll::AllReduce, 1, 4));
  Placement none = p;
  none.boardBytes = 0;
  EXPECT_FALSE(none.boardFits(Coll::AllReduce, 1, 4));
}

TEST(CostModel, BoardClosedForm) {
  // 2 ranks on 2 cores, allreduce of 1000 floats: each rank copies its 4000 bytes in (copy rate),
  // waits one alpha, reads the peer's entry (shm rate) and reduces once (reduce rate).
  Tuning t = simple();
  t.opUs = 0.5;
  auto e = estimate(t, Placement::singleHost(2, 2), shape(Coll::AllReduce, 1000), Algo::Board, false, true);
  ASSERT_TRUE(e.isOk()) << e.status().message();
  const double expect = 0.5 + 4000 / 2e4 + 4000 / 1e4 + 4000 / 1e4 + 2.0;
  EXPECT_NEAR(e->us, expect, 1e-9);
  EXPECT_NEAR(e->loopUs, expect, 1e-9) << "every rank waits for every rank: no overlap";
  EXPECT_EQ(e->messages, 1u);
  EXPECT_EQ(e->shmBytes, 4000u);

  // 4 ranks on 2 cores, broadcast: the root only posts; readers pay alpha and a wake-up, their
  // work stretched twice. In a loop the root runs ahead: the busiest core's work per call.
  auto b = estimate(t, Placement::singleHost(4, 2), shape(Coll::Broadcast, 1000), Algo::Board, false, true);
  ASSERT_TRUE(b.isOk());
  const double reader = 0.5 + 4000 / 1e4, root = 0.5 + 4000 / 2e4;
  EXPECT_NEAR(b->us, 2 * reader + 2.0 + 30.0, 1e-9);
  EXPECT_NEAR(b->loopUs, (root + 3 * reader) / 2, 1e-9);

  // Reading entries another core wrote: at the single-copy rate, after polling their flags once
  // per call (msg_us, on the reader's thread and part of the handoff's alpha).
  t.singleCopyCachedGbps = 5;
  t.shm.msgUs = 0.25;
  auto polled = estimate(t, Placement::singleHost(2, 2), shape(Coll::AllReduce, 1000), Algo::Board, false, true);
  ASSERT_TRUE(polled.isOk());
  EXPECT_NEAR(polled->us, 0.5 + 4000 / 2e4 + 0.25 + 4000 / 5e3 + 4000 / 1e4 + (2.0 - 0.25), 1e-9);
  EXPECT_NEAR(polled->loopUs, polled->us, 1e-9) << "each call waits for every poll";

  // A looped broadcast's readers find their entries posted (the root runs ahead): one call pays
  // the poll, the loop does not.
  auto ahead = estimate(t, Placement::singleHost(4, 2), shape(Coll::Broadcast, 1000), Algo::Board, false, true);
  ASSERT_TRUE(ahead.isOk());
  const double polledReader = 0.5 + 0.25 + 4000 / 5e3, unpolledReader = 0.5 + 4000 / 5e3;
  EXPECT_NEAR(ahead->us, 2 * polledReader + (2.0 - 0.25) + 30.0, 1e-9);
  EXPECT_NEAR(ahead->loopUs, (root + 3 * unpolledReader) / 2, 1e-9);

  // Where it cannot run, it is an error, not a guess.
  EXPECT_FALSE(estimate(t, Placement::blocks(4, 2, 2), shape(Coll::AllReduce, 1), Algo::Board).isOk());
}

TEST(CostModel, BoardIsACandidateOnlyWhereItFits) {
  Placement p = Placement::singleHost(4, 4);
  p.boardBytes = 4096;
  // Each step a message takes costs its executor something (step_us): with nothing at all, one
  // round of messages that all leave at once (direct) would tie with the board's one handoff.
  Tuning stepped = simple();
  stepped.stepUs = 0.15;
  auto small = choose(stepped, p, shape(Coll::AllReduce, 2));
  ASSERT_TRUE(small.isOk());
  EXPECT_EQ(small->best.algo, Algo::Board) << "8 bytes: one handoff beats any schedule of messages";
  auto big = choose(simple(), p, shape(Coll::AllReduce, 1 << 20));
  ASSERT_TRUE(big.isOk());
  for (const auto& c : big->candidates) EXPECT_NE(c.algo, Algo::Board);
  p.tcpOnly = true;
  auto tcp = choose(simple(), p, shape(Coll::AllReduce, 2));
  ASSERT_TRUE(tcp.isOk());
  for (const auto& c : tcp->candidates) EXPECT_NE(c.algo, Algo::Board);
}

// Beyond the caches a single-copy read runs at its measured rate, or at memcpy's rate at the
// working set where that is slower; the copy curve does not scale it down as it does a memory
// rate (the read is bound by pinning pages). A 2-rank broadcast of 64 MiB: the receiver reads it
// single copy while the root copies it to its output; 128 MiB of working set a rank, where
// memcpy runs at 20 * 0.5^(2/3) = 12.6 GB/s.
TEST(CostModel, SingleCopyBeyondTheCachesAtItsRateOrMemorys) {
  Tuning t = simple();
  t.copyCurve = {{1 << 20, 40}, {32 << 20, 20}, {256 << 20, 10}};
  const double b = 64 << 20, memcpyThere = 20 * std::pow(0.5, 2.0 / 3.0);
  auto us = [&](double singleCopyGbps) {
    t.singleCopyGbps = singleCopyGbps;
    auto e = estimate(t, Placement::singleHost(2, 2), shape(Coll::Broadcast, 16 << 20), Algo::Tree);
    EXPECT_TRUE(e.isOk());
    return e.isOk() ? e->us : -1;
  };
  EXPECT_NEAR(us(2), 2.0 + b / 2e3, 1e-3) << "alpha, then the read at its own 2 GB/s";
  EXPECT_NEAR(us(15), 2.0 + b / (memcpyThere * 1e3), 1e-3) << "memory slower than the read";
}

// Over loopback tcp an exchange of small messages costs each end the calibrated exchange_us
// (both kernels running both ways), not a one-way message's thread time: 2 ranks exchanging 4
// bytes (allgather) end after it where it exceeds the latency, and are latency-bound where it
// does not. A one-way message (broadcast) and a job across hosts do not change.
TEST(CostModel, TcpExchangeOfSmallMessagesCostsTheCalibratedExchange) {
  Tuning t = simple();  // tcp alpha 20 us, 1e3 B/us; no step or op costs
  t.tcp.msgUs = 5;
  Placement tcp = Placement::singleHost(2, 2);
  tcp.tcpOnly = true;
  auto us = [&](const Placement& w, Coll c, double exchange) {
    t.tcp.exchangeUs = exchange;
    auto e = estimate(t, w, shape(c, 1), c == Coll::Broadcast ? Algo::Tree : Algo::Ring);
    EXPECT_TRUE(e.isOk());
    return e.isOk() ? e->us : -1;
  };
  const double unknown = us(tcp, Coll::AllGather, 0);
  EXPECT_NEAR(unknown, 20 + 2 * 4 / 1e3, 1e-6) << "latency-bound: alpha, the 4 bytes in and out";
  EXPECT_NEAR(us(tcp, Coll::AllGather, 12), unknown, 1e-9) << "an exchange within the latency";
  EXPECT_NEAR(us(tcp, Coll::AllGather, 30), 30 + 2 * 4 / 1e3 + 4 / 2e4, 1e-6)
      << "the exchange, the 4 bytes in and out, the own block's copy after the send";
  EXPECT_NEAR(us(tcp, Coll::Broadcast, 30), us(tcp, Coll::Broadcast, 0), 1e-9) << "one way";
  const Placement hosts = Placement::blocks(2, 2, 2);
  EXPECT_NEAR(us(hosts, Coll::AllGather, 30), us(hosts, Coll::AllGather, 0), 1e-9) << "measured within a host";
}

TEST(CostModel, RejectsEmptyPlacement) {
  auto e = estimate(simple(), Placement{}, shape(Coll::AllReduce, 4), Algo::Ring);
  ASSERT_FALSE(e.isOk());
  EXPECT_NE(e.status().message().find("no ranks"), std::string::npos);
}

TEST(Tuning, JsonRoundTrip) {
  Tuning t = simple();
  t.copyCurve = {{524288, 55.5}, {2097152, 33}, {134217728, 7.5}};
  t.fingerprint = "test cpu / 2 cpus";
  t.tcp.msgUs = 2.5;
  t.tcp.duplexGbps = 2.9;
  t.tcp.exchangeUs = 7.9;
  t.shm.recvReduceCachedGbps = 13;
  t.singleCopyCachedGbps = 17;
  t.singleCopyGbps = 9.5;
  t.singleCopyUs = 1.25;
  auto back = fromJson(toJson(t));
  ASSERT_TRUE(back.isOk()) << back.status().message();
  back.value().source = t.source;
  EXPECT_EQ(back.value(), t);
}

TEST(Tuning, MalformedFilesNameTheField) {
  struct Case {
    const char* text;
    const char* expect;
  };
  const Case cases[] = {
      {"{", "not valid JSON"},
      {"[1]", "expected a JSON object"},
      {R"({"version": 2})", "version: expected 1"},
      {R"({"links": {"tcp": {"gbps": "fast"}}})", "links.tcp.gbps: expected a number"},
      {R"({"links": {"shm": {"alpha_us": -1}}})", "links.shm.alpha_us: expected a positive number"},
      {R"({"links": {"shm": 3}})", "links.shm: expected an object"},
      {R"({"links": {"tcp": {"msg_us": -2}}})", "links.tcp.msg_us: expected a positive number"},
      {R"({"links": {"tcp": {"duplex_gbps": "x"}}})", "links.tcp.duplex_gbps: expected a number"},
      {R"({"links": {"tcp": {"exchange_us": -1}}})", "links.tcp.exchange_us: expected a positive number"},
      {R"({"links": {"shm": {"recv_reduce_cached_gbps": "x"}}})", "links.shm.recv_reduce_cached_gbps: expected a number"},
      {R"({"single_copy_cached_gbps": "x"})", "single_copy_cached_gbps: expected a number"},
      {R"({"single_copy_gbps": []})", "single_copy_gbps: expected a number"},
      {R"({"single_copy_us": "1"})", "single_copy_us: expected a number"},
      {R"({"reduce_gbps": 0})", "reduce_gbps: expected a positive number"},
      {R"({"fingerprint": 7})", "fingerprint: expected a string"},
      {R"({"copy_curve": 3})", "copy_curve: expected an array"},
      {R"({"copy_curve": [[1, 2], [1, 3]]})", "copy_curve[1]: sizes must ascend"},
      {R"({"copy_curve": [[1, -2]]})", "copy_curve[0]: expected positive numbers"},
      {R"({"copy_curve": [[1, 2, 3]]})", "copy_curve[0]: expected [bytes, GB/s]"},
  };
  for (const auto& c : cases) {
    auto t = fromJson(c.text);
    ASSERT_FALSE(t.isOk()) << c.text;
    EXPECT_EQ(t.status().code(), loomInvalidArgument);
    EXPECT_NE(t.status().message().find(c.expect), std::string::npos) << c.text << " -> " << t.status().message();
  }
}

TEST(Tuning, FileSaveAndLoad) {
  std::string path = testing::TempDir() + "loom-tuning-test.json";
  Tuning t = simple();
  ASSERT_TRUE(saveFile(t, path).isOk());
  auto back = loadFile(path);
  ASSERT_TRUE(back.isOk());
  EXPECT_EQ(back->source, path);
  EXPECT_DOUBLE_EQ(back->tcp.gbps, 1.0);
  auto missing = loadFile(path + ".absent");
  ASSERT_FALSE(missing.isOk());
  EXPECT_NE(missing.status().message().find("cannot open"), std::string::npos);
}

// Over tcp, messages that flow both ways at once beyond the caches run at the calibrated duplex
// rate (each end's kernel sends and receives); one-way messages and data in cache do not.
TEST(CostModel, TcpExchangeRunsAtTheDuplexRate) {
  Placement tcp = Placement::singleHost(2, 2);
  tcp.tcpOnly = true;
  auto us = [&](const Placement& w, Coll c, Algo a, double duplex, size_t count = 4 << 20) {
    Tuning t = simple();
    t.tcp.duplexGbps = duplex;
    auto e = estimate(t, w, shape(c, count), a);
    EXPECT_TRUE(e.isOk()) << e.status().message();
    return e.isOk() ? e->us : -1;
  };
  // 1 GB/s one way; 0.25 GB/s each way at once: the link then runs at 0.5 GB/s.
  const double plain = us(tcp, Coll::AllGather, Algo::Ring, 0), duplex = us(tcp, Coll::AllGather, Algo::Ring, 0.25);
  EXPECT_GT(duplex, 1.3 * plain) << "a 2-rank allgather exchanges 16 MiB each way";
  EXPECT_EQ(us(tcp, Coll::Broadcast, Algo::Tree, 0.25), us(tcp, Coll::Broadcast, Algo::Tree, 0)) << "one way";
  EXPECT_EQ(us(tcp, Coll::AllGather, Algo::Ring, 2.0), plain) << "2 ranks: a duplex rate above half the link's";
  // Only where a rank's working set reaches the memory reference (32 MiB): 4 MiB each way (12 MiB
  // of buffers) runs at the one-way rate (a 2-rank tcp allreduce of 4 MiB, ring: 0.94-1.02 ms
  // measured, priced 1.3 with the duplex rate and 0.97 without).
  EXPECT_EQ(us(tcp, Coll::AllGather, Algo::Ring, 0.25, 1 << 20), us(tcp, Coll::AllGather, Algo::Ring, 0, 1 << 20));
  Placement cached = tcp;
  cached.cacheBytesOfHost = {1e12};
  EXPECT_EQ(us(cached, Coll::AllGather, Algo::Ring, 0.25), us(cached, Coll::AllGather, Algo::Ring, 0)) << "in cache";
}

// On a crowded host a receiver on another core than its sender reads a cache-sized message at the
// single-copy cache rate; elsewhere at the link's. Round-robin binding puts every hop of a 4-rank
// chain across cores.
TEST(CostModel, CrowdedCrossCoreReadsAtTheSingleCopyRate) {
  auto chain = [](int cores, double singleCopyGbps) {
    Tuning t = simple();
    t.singleCopyCachedGbps = singleCopyGbps;
    Placement p = ringOnly(4, cores);
    p.cacheBytesOfHost = {1e12};  // everything in cache
    auto e = estimate(t, p, shape(Coll::Broadcast, 25000), Algo::Ring);
    EXPECT_TRUE(e.isOk()) << e.status().message();
    return e.isOk() ? e->us : 0.0;
  };
  EXPECT_GT(chain(2, 1.0), chain(2, 100.0) + 100) << "three hops read at 1 GB/s: 100 us each";
  EXPECT_EQ(chain(4, 1.0), chain(4, 100.0)) << "a core each: not crowded";
}

// A loop of calls goes no faster than its busiest core: in a chain broadcast over 4 ranks on 2
// cores, ranks 1 and 3 share a core, which copies 100,000 B out and in (rank 1) and out (rank 3)
// each call, at no more than the shm rate, and wakes each receiver once.
TEST(CostModel, LoopIsBoundByTheBusiestCore) {
  auto e = estimate(simple(), ringOnly(4, 2), shape(Coll::Broadcast, 25000), Algo::Ring, false, true);
  ASSERT_TRUE(e.isOk()) << e.status().message();
  EXPECT_GE(e->loopUs, 3 * 100000 / 1e4 + 2 * 30.0);
  EXPECT_GE(e->loopUs, e->busiestCoreUs - 1e-6);
  EXPECT_LT(e->loopUs, e->us) << "calls still overlap";
}

// Hand-made schedules (cost::replay): three ranks with a core each, all through the rings.
// Rank 1 sends block X to rank 2 while block M from rank 0 arrives; once its thread is free it
// has M to drain and a copy of its own to make, and after M, M to forward and the copy.
TEST(CostModel, ArrivedDataFirstThenSendsThenLocalWork) {
  using namespace sched;
  const size_t b = 100000;  // through a ring 10 us, a copy 5 us, fragments of 25,024 B
  std::vector<Schedule> s(3);
  s[0].add(send(1, in(0, b)));
  s[1].add(send(2, in(0, b)));
  const uint32_t m = s[1].add(recv(0, out(0, b)));
  s[1].add(send(2, out(0, b)), {m});
  s[1].add(copy(in(0, b), scratch(0, b)));
  s[1].scratchBytes = b;
  s[2].add(recv(1, out(0, b)));
  s[2].add(recv(1, out(0, b)));
  auto e = replay(simple(), ringOnly(3, 3), s);
  ASSERT_TRUE(e.isOk()) << e.status().message();
  // Rank 1: X 0-10 (a send before the copy at 0); at 10 M (in since 4.5) 10-20; at 20 the forward
  // 20-30, then the copy 30-35. Rank 2 reads M from 20 + 4.5, ends one fragment after the
  // forward: 34.5. The copy first at 10 or at 20 would put the forward at 25-35 and the end at 39.5.
  EXPECT_NEAR(e->us, 35.0, 1e-6);
}

// Rank 1, busy sending X until 10, then has M (in since 4.5) to drain and Y to send to rank 3,
// which copies what Y brings. Draining first delays Y, and so the job.
TEST(CostModel, ArrivedDataBeforeASend) {
  using namespace sched;
  const size_t b = 100000;
  std::vector<Schedule> s(4);
  s[0].add(send(1, in(0, b)));
  s[1].add(send(2, in(0, b)));
  s[1].add(recv(0, out(0, b)));
  s[1].add(send(3, in(0, b)));
  s[2].add(recv(1, out(0, b)));
  const uint32_t y = s[3].add(recv(1, out(0, b)));
  s[3].add(copy(in(0, 4 * b), scratch(0, 4 * b)), {y});  // 20 us
  s[3].scratchBytes = 4 * b;
  auto e = replay(simple(), ringOnly(4, 4), s);
  ASSERT_TRUE(e.isOk()) << e.status().message();
  // M 10-20, Y 20-30, rank 3 reads Y until 34.5 and copies until 54.5 (the fragments are 25,024 B,
  // hence the 0.0024). Y first would end at 44.5.
  EXPECT_NEAR(e->us, 54.5024, 1e-6);
}

// A message leaves before its receive is posted, as the transports send: it waits in the ring.
// Rank 0 sends 100,000 bytes (10 us into the ring), copies 1000 bytes, then posts a receive of
// rank 1's 1000 bytes. Rank 1 sent those at 0, before its thread took rank 0's message
// (4.5-14.5): rank 0 drains them at 10.1 and the job ends with rank 1's receive, 14.5. Were the
// message to wait for its receive (10.05), rank 1's thread would send it only after that
// receive: in at 16.6, the end 16.7.
TEST(CostModel, MessageLeavesBeforeItsReceiveIsPosted) {
  using namespace sched;
  auto run = [](size_t bytes) {
    std::vector<Schedule> s(2);
    s[0].add(send(1, in(0, 100000)));
    const uint32_t busy = s[0].add(copy(in(0, 1000), scratch(0, 1000)));
    s[0].scratchBytes = 1000;
    s[0].add(recv(1, out(0, bytes)), {busy});
    s[1].add(send(0, in(0, bytes)));
    s[1].add(recv(0, out(0, 100000)));
    return replay(simple(), ringOnly(2, 2), s);
  };
  auto small = run(1000);
  ASSERT_TRUE(small.isOk()) << small.status().message();
  EXPECT_NEAR(small->us, 14.5024, 1e-6);
  // A message larger than the ring (8 slots of 256 KiB) waits for its receive (10.05), so rank 1
  // takes rank 0's message first: its copy in runs 14.5-433.9, the last 256 KiB fragment is out
  // alpha and 26.2 us later (leaving at 0 it would end at 447.6).
  const size_t big = 4 << 20;
  auto large = run(big);
  ASSERT_TRUE(large.isOk()) << large.status().message();
  EXPECT_NEAR(large->us, 14.5024 + static_cast<double>(big) / 1e4 + 2.0 + (256 << 10) / 1e4, 1e-6);
}

// What let a message leave before its receive was posted must still hold when it goes. Rank 0's
// 8 MiB send to rank 1 (more than the ring holds) is matched while rank 0 has a receive from
// rank 1 posted, which would let it go single copy early; that receive completes before the send
// commits, so the send waits for rank 1's receive, posted only after rank 2's 2000 us copy. Rank
// 0's 4000 us copy follows its send: the job ends after 6000 us (leaving early, it had ended at
// 4849).
TEST(CostModel, AMessageThatMayNoLongerLeaveEarlyWaitsForItsReceive) {
  using namespace sched;
  const size_t big = 8 << 20;
  std::vector<Schedule> s(3);
  s[0].add(recv(1, out(0, 1000)));
  const uint32_t c0 = s[0].add(copy(in(0, 200000), scratch(0, 200000)));
  s[0].scratchBytes = 200000;
  const uint32_t sent = s[0].add(send(1, in(0, big)), {c0});
  s[0].add(copy(in(0, 80000000), out(0, 80000000)), {sent});
  const uint32_t c1 = s[1].add(copy(in(0, 100000), scratch(0, 100000)));
  s[1].scratchBytes = 100000;
  s[1].add(send(0, in(0, 1000)), {c1});
  const uint32_t fromTwo = s[1].add(recv(2, out(0, 1000)));
  s[1].add(recv(0, out(0, big)), {fromTwo});
  const uint32_t c2 = s[2].add(copy(in(0, 40000000), scratch(0, 40000000)));
  s[2].scratchBytes = 40000000;
  s[2].add(send(1, in(0, 1000)), {c2});
  Placement p = Placement::singleHost(3, 3);
  p.shmCmaBytes = 16 << 10;
  auto e = replay(simple(), p, s);
  ASSERT_TRUE(e.isOk()) << e.status().message();
  EXPECT_GT(e->us, 2000.0 + 4000.0);
}

TEST(CostModel, HandMadeSchedulesThatCannotRunAreRefused) {
  using namespace sched;
  std::vector<Schedule> s(2);  // each waits for the other's message before sending its own
  for (int r = 0; r < 2; ++r) {
    const uint32_t got = s[r].add(recv(1 - r, out(0, 64)));
    s[r].add(send(1 - r, in(0, 64)), {got});
  }
  auto dead = replay(simple(), ringOnly(2, 2), s);
  ASSERT_FALSE(dead.isOk());
  EXPECT_EQ(dead.status().code(), loomInvalidArgument);
  EXPECT_NE(dead.status().message().find("deadlock"), std::string::npos) << dead.status().message();
  std::vector<Schedule> lone(2);
  lone[0].add(send(1, in(0, 64)));
  auto unmatched = replay(simple(), ringOnly(2, 2), lone);
  ASSERT_FALSE(unmatched.isOk());
  EXPECT_NE(unmatched.status().message().find("unmatched messages from rank 0 to rank 1"), std::string::npos);
  auto few = replay(simple(), ringOnly(3, 3), lone);
  ASSERT_FALSE(few.isOk());
  EXPECT_NE(few.status().message().find("2 schedules for 3 ranks"), std::string::npos) << few.status().message();
}

}  // namespace
}  // namespace loom::cost

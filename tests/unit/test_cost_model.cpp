// The cost model: closed forms on tiny schedules and the choices it must make on synthetic
// machines (the board: test_cost_board.cpp; hand-made schedules: test_cost_replay.cpp; the tuning
// file: test_cost_tuning.cpp).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>

#include "transport/shm_fragments.hpp"
#include "cost/model.hpp"
#include "cost_test_support.hpp"

namespace loom::cost {
namespace {

using namespace testing_support;

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

// A link's memory rate falls as the copy curve does from kLinkRefBytes (what the calibrating pair
// held) to the working set of all the host's ranks; a rank's own copies from kMemoryRefBytes to
// its own. A 2-rank broadcast of 64 MiB through the shm ring: 128 MiB of buffers a rank, 256 MiB
// on the host, where memory copies at half the rate at kLinkRefBytes.
TEST(CostModel, ALinksMemoryRateFollowsTheHostsWorkingSet) {
  Tuning t = simple();  // shm 10 GB/s
  t.copyCurve = {{1 << 20, 40}, {2 << 20, 40}, {4 << 20, 19}, {kLinkRefBytes, 19}, {4 * kLinkRefBytes, 9.5}};
  Placement w = Placement::singleHost(2, 2);
  w.shmCmaBytes = 0;
  const double b = 64 << 20;
  auto e = estimate(t, w, shape(Coll::Broadcast, 16 << 20), Algo::Tree);
  ASSERT_TRUE(e.isOk());
  // The root's thread copies its input to its output (its own 128 MiB: 20 GB/s * sqrt(1/2)), then
  // sends through the ring at half the link's 10 GB/s (not 1/sqrt(2), as its own 128 MiB would say).
  EXPECT_NEAR(e->us, b / (20e3 * std::sqrt(0.5)) + b / 5e3, 1e-3 * b / 5e3);
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

// A receiver on another core than its sender reads a cache-sized message at the single-copy
// cache rate (the calibrated in-cache stream); on its sender's core at the link's. Round-robin
// binding puts every hop of a 4-rank chain on 2 cores across cores, as does a core each.
TEST(CostModel, CrossCoreReadsAtTheSingleCopyRate) {
  auto chain = [](int cores, double singleCopyGbps, bool tcp = false) {
    Tuning t = simple();
    t.singleCopyCachedGbps = singleCopyGbps;
    Placement p = ringOnly(4, cores);
    p.cacheBytesOfHost = {1e12};  // everything in cache
    p.tcpOnly = tcp;
    auto e = estimate(t, p, shape(Coll::Broadcast, 25000), Algo::Ring);
    EXPECT_TRUE(e.isOk()) << e.status().message();
    return e.isOk() ? e->us : 0.0;
  };
  EXPECT_GT(chain(2, 1.0), chain(2, 100.0) + 100) << "three hops read at 1 GB/s: 100 us each";
  EXPECT_GT(chain(4, 1.0), chain(4, 100.0) + 100) << "a core each: every hop across cores too";
  EXPECT_EQ(chain(1, 1.0), chain(1, 100.0)) << "one core: every read from its own cache";
  EXPECT_EQ(chain(4, 1.0, true), chain(4, 100.0, true)) << "over tcp: the socket's rates";
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

}  // namespace
}  // namespace loom::cost

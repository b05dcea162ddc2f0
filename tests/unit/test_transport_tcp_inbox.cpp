// The tcp receiver reads small frames ahead into a per-socket inbox: frames that arrived before
// their receives were posted, of every size around the inbox's, copy and reduce receives, must
// arrive whole and in order; and a run of small frames must cost a few reads, not one per frame.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "test_transport_util.hpp"

namespace loom::transport::testing {
namespace {

using namespace std::chrono_literals;

Group tcpPair() {
  return makeGroup(2, Kind::Tcp, [](FabricConfig& c) { c.nsocks = 1; });
}

// Sends every message of `sizes` from rank 0 and waits until they are all on the wire; rank 1
// then posts and completes the receives one by one (a reduce receive for every third).
void sendAllThenReceive(Group& g, const std::vector<size_t>& sizes) {
  onEachRank(2, [&](int r) {
    Fabric& f = *g.f[r];
    std::vector<std::vector<uint8_t>> bufs(sizes.size());
    if (r == 0) {
      std::vector<Completion> cs(sizes.size());
      std::vector<Completion*> all;
      for (size_t m = 0; m < sizes.size(); ++m) {
        bufs[m].resize(sizes[m]);
        for (size_t i = 0; i < sizes[m]; ++i) bufs[m][i] = pattern(0, 1, m, i);
        f.postSend(1, bufs[m].data(), sizes[m], &cs[m]);
        all.push_back(&cs[m]);
      }
      ASSERT_TRUE(drive(f, all, Deadline::after(20s)));
      for (auto& c : cs) ASSERT_TRUE(c.status.isOk()) << c.status.message();
      return;
    }
    std::this_thread::sleep_for(200ms);  // everything arrives before the first receive is posted
    for (size_t m = 0; m < sizes.size(); ++m) {
      const size_t bytes = sizes[m];
      const bool reduce = m % 3 == 2 && bytes % 4 == 0;
      std::vector<uint8_t> out(bytes + 1, 0), operand(bytes);
      for (size_t i = 0; i < bytes; ++i) operand[i] = static_cast<uint8_t>(i * 5 + m);
      Completion c;
      f.postRecv(0, bytes, sinkInto(out.data(), reduce ? operand.data() : nullptr), &c);
      ASSERT_TRUE(drive(f, {&c}, Deadline::after(20s))) << "message " << m;
      ASSERT_TRUE(c.status.isOk()) << c.status.message();
      std::vector<uint8_t> want(bytes);
      for (size_t i = 0; i < bytes; ++i) want[i] = pattern(0, 1, m, i);
      if (reduce) sumInt32(want.data(), operand.data(), std::vector<uint8_t>(want).data(), bytes / 4);
      for (size_t i = 0; i < bytes; ++i)
        ASSERT_EQ(out[i], want[i]) << "message " << m << " (" << bytes << " bytes) byte " << i;
      EXPECT_EQ(out[bytes], 0) << "guard byte of message " << m;
    }
  });
}

TEST(TcpInbox, FramesOfEverySizeAroundTheInboxArriveWholeAfterTheirReceives) {
  Group g = tcpPair();
  ASSERT_EQ(g.f.size(), 2u);
  // The frame header is 40 bytes and the inbox 4 KiB: 4056 fills it exactly.
  sendAllThenReceive(g, {8, 0, 4, 1, 100, 4052, 4056, 4060, 4096, 8, 5000, 12, 65536, 3, 4, 8192 + 40, 16, 1000});
  for (auto& f : g.f) EXPECT_TRUE(f->status().isOk()) << f->status().message();
}

TEST(TcpInbox, ARunOfSmallFramesTakesAFewReadsNotOnePerFrame) {
  Group g = tcpPair();
  ASSERT_EQ(g.f.size(), 2u);
  const std::vector<size_t> sizes(40, 8);  // 40 frames of 48 bytes: under half the inbox
  const uint64_t before = testhooks::tcpReads();
  sendAllThenReceive(g, sizes);
  const uint64_t reads = testhooks::tcpReads() - before;
  // One read each would be 40 (before the inbox, 80: a header, then its payload). A frame
  // or two may have been split over a read or a heartbeat may slip in; a handful is the bound.
  EXPECT_LE(reads, 6u);
  for (auto& f : g.f) EXPECT_TRUE(f->status().isOk()) << f->status().message();
}

// Rank 1 sends a frame rank 0 has no receive for, then falls silent (nobody drives its fabric,
// so no heartbeats). Rank 0 reads the frame ahead and holds it, which exempts rank 1 from the
// silence rule; then rank 0's fabric fails for another reason (rank 2 sends a size it does not
// expect). A failed fabric drops held frames, and rank 1's silence must count again: a frame
// held in the inbox of a socket that epoll no longer reports must not hide it forever.
TEST(TcpInbox, AHeldFrameIsDroppedAfterAFailureSoASilentPeerIsStillFound) {
  Group g = makeGroup(3, Kind::Tcp, [](FabricConfig& c) {
    c.nsocks = 1;
    c.failureDetectSeconds = 0.6;
  });
  ASSERT_EQ(g.f.size(), 3u);
  Fabric& f0 = *g.f[0];
  auto idle = [&](double seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      f0.checkPeers();
      if (!f0.progress()) f0.waitForActivity(5);
    }
  };
  std::vector<uint8_t> eight(8, 1), sixteen(16, 2), into(16);
  Completion sent1, sent2, got;
  g.f[1]->postSend(0, eight.data(), eight.size(), &sent1);
  ASSERT_TRUE(drive(*g.f[1], {&sent1}, Deadline::after(5s)));
  idle(0.1);  // rank 1's frame is read ahead and held: no receive for it
  EXPECT_TRUE(f0.status().isOk()) << f0.status().message();
  g.f[2]->postSend(0, sixteen.data(), sixteen.size(), &sent2);
  ASSERT_TRUE(drive(*g.f[2], {&sent2}, Deadline::after(5s)));
  RecvSink sink;
  sink.dst = into.data();
  f0.postRecv(2, 8, sink, &got);  // 8 where 16 come: the fabric fails
  ASSERT_TRUE(drive(f0, {&got}, Deadline::after(5s)));
  ASSERT_FALSE(got.status.isOk());
  ASSERT_FALSE(f0.status().isOk());
  const auto failedAt = std::chrono::steady_clock::now();
  auto dead = [&] {
    auto v = f0.failedPeers();
    return std::find(v.begin(), v.end(), 1) != v.end();
  };
  while (!dead() && std::chrono::steady_clock::now() - failedAt < 5s) idle(0.05);
  EXPECT_TRUE(dead()) << "rank 1 fell silent behind a held frame and was never found";
}

}  // namespace
}  // namespace loom::transport::testing

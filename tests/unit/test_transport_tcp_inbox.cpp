// The tcp receiver reads small frames ahead into a per-socket inbox: frames that arrived before
// their receives were posted, of every size around the inbox's, copy and reduce receives, must
// arrive whole and in order; and a run of small frames must cost one read, not one per frame.
#include <gtest/gtest.h>

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
      RecvSink sink;
      sink.dst = out.data();
      if (reduce) {
        sink.operand = operand.data();
        sink.reduce = sumInt32;
        sink.elemSize = 4;
      }
      Completion c;
      f.postRecv(0, bytes, sink, &c);
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

TEST(TcpInbox, ARunOfSmallFramesIsReadInOneCall) {
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

}  // namespace
}  // namespace loom::transport::testing

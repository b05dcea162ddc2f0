// Data paths of the fabric: shm, tcp, mixed and self; sizes around fragment boundaries,
// FIFO order, reduce-on-arrival, size mismatches and abort; single-copy messages.
#include <gtest/gtest.h>

#include <functional>

#include <numeric>
#include <tuple>

#include "own_memory.hpp"
#include "test_transport_util.hpp"
#include "transport/fabric_impl.hpp"
#include "transport/oneway_judge.hpp"

using namespace loom;
using namespace loom::transport;
using namespace loom::transport::testing;

namespace {

struct Mode {
  const char* name;
  Kind force;
  int nsocks;
  bool mixed;  // two fake hosts: shm within, tcp across
  size_t cmaBytes = 0;  // shm messages from this size go single copy (where the OS allows)
  int streamStores = -1;  // FabricConfig::shmStreamStores
};

class FabricModes : public ::testing::TestWithParam<Mode> {
 protected:
  Group make(int n) {
    Mode m = GetParam();
    return makeGroup(n, m.force, [&](FabricConfig& c) {
      c.nsocks = m.nsocks;
      c.shmCmaBytes = m.cmaBytes;
      c.shmStreamStores = m.streamStores;
      if (m.mixed) c.hostId = c.rank < n / 2 ? "host-a" : "host-b";
    });
  }
  void TearDown() override {}
};

const size_t kSlot = 64 << 10, kTcpFrag = 512 << 10;
// Shm messages of 16-64 KiB go in 16 KiB fragments, larger ones in quarters up to a slot.
const size_t kFrag = kMinShmFrag;
const std::vector<size_t> kAllSizes = {0,         1,         63,           64,       65,           kFrag - 1,
                                    kFrag + 1, 100003,    kSlot - 1,    kSlot,    kSlot + 1,    kTcpFrag - 1,
                                    kTcpFrag,  kTcpFrag + 1, (8u << 20) + 3};

TEST(ShmFragments, PipelineLargeMessagesWithinASlot) {
  for (size_t slot : {size_t(4096), size_t(64) << 10, size_t(256) << 10}) {
    for (size_t bytes : {size_t(0), size_t(1), size_t(8), kFrag - 1, kFrag, 3 * kFrag + 1, 4 * kFrag, 100003 * size_t(1),
                         size_t(1) << 20, (size_t(8) << 20) + 3}) {
      const size_t f = shmFragBytes(bytes, slot);
      SCOPED_TRACE(::testing::Message() << bytes << " bytes, slot " << slot);
      EXPECT_LE(f, slot);
      EXPECT_EQ(f % 64, 0u);
      EXPECT_GE(f, std::min(slot, kFrag));
      // Big enough to split: at least four fragments, so the receiver overlaps the sender.
      if (bytes >= 4 * std::min(slot, kFrag)) {
        EXPECT_GE(fragCount(bytes, f), 4u);
      }
      if (bytes <= std::min(slot, kFrag)) {
        EXPECT_EQ(fragCount(bytes, f), 1u);
      }
    }
  }
}

TEST_P(FabricModes, AllPairsAllSizes) {
  const int n = 3;
  // The 8 MiB message only for the two main modes (keeps the sanitizer runs short).
  std::vector<size_t> kSizes = kAllSizes;
  if (GetParam().nsocks != 2 || GetParam().mixed) kSizes.back() = (2u << 20) + 3;
  Group g = make(n);
  ASSERT_EQ(g.f.size(), static_cast<size_t>(n));
  for (int r = 0; r < n; ++r)
    for (int p = 0; p < n; ++p) {
      std::string t = g.f[r]->transportOf(p);
      if (p == r) EXPECT_EQ(t, "self");
      else if (GetParam().mixed) EXPECT_EQ(t, (r < n / 2) == (p < n / 2) ? "shm" : "tcp");
      else EXPECT_EQ(t, GetParam().force == Kind::Tcp ? "tcp" : "shm");
    }
  std::atomic<int> failures{0};
  const uint64_t singleCopiesBefore = testhooks::singleCopySends();
  onEachRank(n, [&](int r) {
    Fabric& f = *g.f[r];
    std::vector<std::vector<uint8_t>> sendBufs, recvBufs;
    std::vector<Completion> cs(2 * n * kSizes.size());
    std::vector<Completion*> all;
    size_t ci = 0;
    for (int p = 0; p < n; ++p)
      for (size_t m = 0; m < kSizes.size(); ++m) {
        auto& sb = sendBufs.emplace_back(kSizes[m]);
        for (size_t i = 0; i < sb.size(); ++i) sb[i] = pattern(r, p, m, i);
        f.postSend(p, sb.data(), sb.size(), &cs[ci]);
        all.push_back(&cs[ci++]);
        auto& rb = recvBufs.emplace_back(kSizes[m] + 1, 0xee);  // +1: guard byte
        RecvSink sink;
        sink.dst = rb.data();
        f.postRecv(p, kSizes[m], sink, &cs[ci]);
        all.push_back(&cs[ci++]);
      }
    if (!drive(f, all, Deadline::after(std::chrono::seconds(30)))) {
      ADD_FAILURE() << "rank " << r << " timed out";
      ++failures;
      return;
    }
    for (auto* c : all)
      if (!c->status.isOk()) {
        ADD_FAILURE() << "rank " << r << ": " << c->status.message();
        return;
      }
    size_t k = 0;
    for (int p = 0; p < n; ++p)
      for (size_t m = 0; m < kSizes.size(); ++m, ++k) {
        auto& rb = recvBufs[k];
        size_t bad = 0;
        for (size_t i = 0; i < kSizes[m]; ++i) bad += rb[i] != pattern(p, r, m, i);
        EXPECT_EQ(bad, 0u) << "rank " << r << " from " << p << " size " << kSizes[m];
        EXPECT_EQ(rb[kSizes[m]], 0xee) << "guard byte overwritten";
      }
  });
  EXPECT_EQ(failures.load(), 0);
  // Which messages go single copy depends on timing (the receive must be posted first), but
  // with every receive posted early some of the large ones do.
  if (GetParam().cmaBytes && canReadOwnMemory()) {
    EXPECT_GT(testhooks::singleCopySends(), singleCopiesBefore);
  }
  g.f.clear();
  EXPECT_TRUE(shmLeftovers(g.commId).empty());
}

TEST_P(FabricModes, FifoManyMessages) {
  const int n = 4, kMsgs = 300;
  Group g = make(n);
  ASSERT_EQ(g.f.size(), static_cast<size_t>(n));
  auto sizeOf = [](int i) { return static_cast<size_t>((i * 37) % 700) * 4 + 4; };
  onEachRank(n, [&](int r) {
    Fabric& f = *g.f[r];
    int to = (r + 1) % n, from = (r + n - 1) % n;
    std::vector<std::vector<int32_t>> sb(kMsgs), rb(kMsgs);
    std::vector<Completion> cs(2 * kMsgs);
    std::vector<Completion*> all;
    for (int i = 0; i < kMsgs; ++i) {
      sb[i].assign(sizeOf(i) / 4, r * 100000 + i);
      rb[i].assign(sizeOf(i) / 4, -1);
    }
    // Interleave posting with progress, receives first on odd ranks.
    for (int i = 0; i < kMsgs; ++i) {
      RecvSink sink;
      sink.dst = rb[i].data();
      if (r % 2) f.postRecv(from, sizeOf(i), sink, &cs[2 * i + 1]);
      f.postSend(to, sb[i].data(), sizeOf(i), &cs[2 * i]);
      if (!(r % 2)) f.postRecv(from, sizeOf(i), sink, &cs[2 * i + 1]);
      all.push_back(&cs[2 * i]);
      all.push_back(&cs[2 * i + 1]);
      if (i % 16 == 0) f.progress();
    }
    ASSERT_TRUE(drive(f, all, Deadline::after(std::chrono::seconds(20)))) << "rank " << r;
    for (int i = 0; i < kMsgs; ++i) {
      ASSERT_TRUE(cs[2 * i + 1].status.isOk()) << cs[2 * i + 1].status.message();
      for (int32_t v : rb[i]) ASSERT_EQ(v, from * 100000 + i) << "rank " << r << " message " << i;
    }
  });
}

TEST_P(FabricModes, ReduceOnArrival) {
  const int n = 2;
  Group g = make(n);
  ASSERT_EQ(g.f.size(), static_cast<size_t>(n));
  const size_t count = (1u << 20) + 3;  // crosses fragments of both transports
  onEachRank(n, [&](int r) {
    Fabric& f = *g.f[r];
    int peer = 1 - r;
    std::vector<int32_t> mine(count), operand(count), out(count, 0), inPlace(count);
    for (size_t i = 0; i < count; ++i) {
      mine[i] = static_cast<int32_t>(i * (r + 3)) - 7;
      operand[i] = static_cast<int32_t>(i ^ 0x5555) * (r ? -1 : 1);
    }
    inPlace = operand;
    Completion s1, s2, r1, r2, self1, selfR;
    f.postSend(peer, mine.data(), count * 4, &s1);
    f.postSend(peer, mine.data(), count * 4, &s2);
    f.postSend(r, mine.data(), count * 4, &self1);
    RecvSink a{out.data(), operand.data(), &sumInt32, 4};
    RecvSink b{inPlace.data(), inPlace.data(), &sumInt32, 4};  // operand == dst
    f.postRecv(peer, count * 4, a, &r1);
    f.postRecv(peer, count * 4, b, &r2);
    std::vector<int32_t> selfOut(count);
    RecvSink c{selfOut.data(), operand.data(), &sumInt32, 4};
    f.postRecv(r, count * 4, c, &selfR);
    ASSERT_TRUE(drive(f, {&s1, &s2, &r1, &r2, &self1, &selfR}, Deadline::after(std::chrono::seconds(20))));
    for (auto* cc : {&s1, &s2, &r1, &r2, &self1, &selfR}) ASSERT_TRUE(cc->status.isOk()) << cc->status.message();
    for (size_t i = 0; i < count; ++i) {
      int32_t theirs = static_cast<int32_t>(i * (peer + 3)) - 7;
      int32_t expect = static_cast<int32_t>(static_cast<uint32_t>(operand[i]) + static_cast<uint32_t>(theirs));
      ASSERT_EQ(out[i], expect) << "element " << i;
      ASSERT_EQ(inPlace[i], expect) << "element " << i;
      ASSERT_EQ(selfOut[i], static_cast<int32_t>(static_cast<uint32_t>(operand[i]) + static_cast<uint32_t>(mine[i])));
    }
  });
}

TEST_P(FabricModes, SizeMismatchNamesBothSizes) {
  const int n = 2;
  Group g = make(n);
  ASSERT_EQ(g.f.size(), static_cast<size_t>(n));
  std::vector<char> buf(1000), dst(2000);
  onEachRank(n, [&](int r) {
    Fabric& f = *g.f[r];
    Completion c;
    if (r == 0) {
      f.postSend(1, buf.data(), 1000, &c);
      // The send may complete (buffered) or fail once rank 1 gives up; either way it ends.
      drive(f, {&c}, Deadline::after(std::chrono::seconds(5)));
    } else {
      RecvSink sink;
      sink.dst = dst.data();
      f.postRecv(0, 1500, sink, &c);
      ASSERT_TRUE(drive(f, {&c}, Deadline::after(std::chrono::seconds(10))));
      EXPECT_EQ(c.status.code(), loomRemoteError);
      EXPECT_NE(c.status.message().find("1000"), std::string::npos) << c.status.message();
      EXPECT_NE(c.status.message().find("1500"), std::string::npos) << c.status.message();
      EXPECT_EQ(f.status().code(), loomRemoteError);  // sticky
      Completion later;
      f.postRecv(0, 4, sink, &later);
      EXPECT_TRUE(later.done);
      EXPECT_EQ(later.status.code(), loomRemoteError);
    }
  });
}

TEST_P(FabricModes, AbortFromAnotherThreadFailsPendingPromptly) {
  const int n = 2;
  Group g = make(n);
  ASSERT_EQ(g.f.size(), static_cast<size_t>(n));
  Fabric& f = *g.f[0];
  std::vector<char> big(128 << 20), dst(64);
  Completion send, recv;
  f.postSend(1, big.data(), big.size(), &send);  // more than rings/socket buffers hold
  RecvSink sink;
  sink.dst = dst.data();
  f.postRecv(1, 64, sink, &recv);  // never sent
  auto start = std::chrono::steady_clock::now();
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    f.abort();
  });
  bool ok = drive(f, {&send, &recv}, Deadline::after(std::chrono::seconds(5)));
  killer.join();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(ok);
  EXPECT_LT(ms, 1100);
  EXPECT_EQ(recv.status.code(), loomRemoteError);
  EXPECT_NE(recv.status.message().find("aborted"), std::string::npos);
  EXPECT_EQ(send.status.code(), loomRemoteError);
}

TEST_P(FabricModes, WakeInterruptsWait) {
  Group g = make(2);
  ASSERT_EQ(g.f.size(), 2u);
  Fabric& f = *g.f[0];
  std::vector<char> dst(8);
  Completion recv;
  RecvSink sink;
  sink.dst = dst.data();
  f.postRecv(1, 8, sink, &recv);
  std::thread waker([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    f.wake();
  });
  auto start = std::chrono::steady_clock::now();
  // Pending shm work sleeps at most 100 ms anyway; tcp/idle would sleep the full 5 s without wake.
  for (int i = 0; i < 3 && std::chrono::steady_clock::now() - start < std::chrono::milliseconds(45); ++i) f.waitForActivity(5000);
  f.waitForActivity(5000);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  waker.join();
  EXPECT_LT(ms, 1000);
  EXPECT_FALSE(recv.done);
  g.f[0]->abort();
}

INSTANTIATE_TEST_SUITE_P(Transports, FabricModes,
                         ::testing::Values(Mode{"shm", Kind::Auto, 2, false}, Mode{"shmcma", Kind::Auto, 2, false, 1000},
                                           Mode{"shmstream", Kind::Auto, 2, false, 0, 1},
                                           Mode{"tcp", Kind::Tcp, 2, false},
                                           Mode{"tcp1", Kind::Tcp, 1, false}, Mode{"tcp3", Kind::Tcp, 3, false},
                                           Mode{"mixed", Kind::Auto, 2, true}),
                         [](const auto& info) { return std::string(info.param.name); });

// What the fabric tells the cost model: its threshold, or 0 where nothing goes single copy.
TEST(FabricSingleCopy, ReportsItsThreshold) {
  for (const auto& [cma, checksum, expected] :
       {std::tuple{size_t{4096}, false, size_t{4096}}, {4096, true, 0}, {0, false, 0}}) {
    Group g = makeGroup(2, Kind::Shm, [&](FabricConfig& c) {
      c.shmCmaBytes = cma;
      c.checksum = checksum;
    });
    ASSERT_EQ(g.f.size(), 2u);
    EXPECT_EQ(g.f[0]->singleCopyBytes(), expected) << cma << (checksum ? " with checksum" : "");
  }
}

// A sender that fails while its receiver has not yet read a single-copy message withdraws it: the
// receiver fails instead of delivering bytes from a buffer the sender's caller may have reused.
TEST(FabricSingleCopy, WithdrawnWhenTheSenderFails) {
  if (!canReadOwnMemory()) GTEST_SKIP() << "process_vm_readv is not permitted here";
  Group g = makeGroup(2, Kind::Shm, [](FabricConfig& c) { c.shmCmaBytes = 4096; });
  ASSERT_EQ(g.f.size(), 2u);
  const size_t bytes = 1 << 20;
  std::vector<uint8_t> data(bytes, 0x11), got(bytes, 0);
  Completion recvAtSender, send, recv;
  RecvSink sink;
  sink.dst = got.data();
  g.f[1]->postRecv(0, bytes, sink, &recv);  // posted (a copy), but rank 1 does not progress yet
  std::vector<uint8_t> unused(8);
  RecvSink other;
  other.dst = unused.data();
  g.f[0]->postRecv(1, 8, other, &recvAtSender);  // the sender waits for data too: single copy pays
  const uint64_t before = testhooks::singleCopySends();
  g.f[0]->postSend(1, data.data(), bytes, &send);
  for (int i = 0; i < 100 && testhooks::singleCopySends() == before; ++i) g.f[0]->progress();
  ASSERT_EQ(testhooks::singleCopySends(), before + 1) << "the message did not go single copy";
  EXPECT_FALSE(send.done);  // it completes only once the receiver has read it
  g.f[0]->cancelPending(remoteError("test: sender gives up", -1));
  ASSERT_TRUE(send.done);
  EXPECT_FALSE(send.status.isOk());
  std::fill(data.begin(), data.end(), 0xee);  // the caller reuses its buffer
  ASSERT_TRUE(drive(*g.f[1], {&recv}, Deadline::after(std::chrono::seconds(10))));
  EXPECT_FALSE(recv.status.isOk());
  EXPECT_NE(recv.status.message().find("withdrew"), std::string::npos) << recv.status.message();
}

TEST(FabricSingleCopy, FollowsTheReceiversPostedCopyReceive) {
  if (!canReadOwnMemory()) GTEST_SKIP() << "process_vm_readv is not permitted here";
  Group g = makeGroup(2, Kind::Shm, [](FabricConfig& c) { c.shmCmaBytes = 4096; });
  ASSERT_EQ(g.f.size(), 2u);
  const size_t count = 300000;  // not a multiple of the staging size
  std::vector<int32_t> a(count), b(count), out(count), operand(count);
  for (size_t i = 0; i < count; ++i) a[i] = static_cast<int32_t>(i * 7), operand[i] = static_cast<int32_t>(i);
  std::vector<uint8_t> tiny(8), tinyIn(8);
  Completion sA, sB, rCopy, rReduce, rTiny, sTiny;
  RecvSink copySink, reduceSink{out.data(), operand.data(), &sumInt32, 4}, tinySink;
  copySink.dst = b.data();
  tinySink.dst = tinyIn.data();
  // Rank 1 posts a copy then a reduce receive; rank 0 waits for a tiny message meanwhile.
  g.f[1]->postRecv(0, count * 4, copySink, &rCopy);
  g.f[1]->postRecv(0, count * 4, reduceSink, &rReduce);
  g.f[0]->postRecv(1, 8, tinySink, &rTiny);
  g.f[1]->progress();  // publishes what rank 1 expects
  const uint64_t before = testhooks::singleCopySends();
  g.f[0]->postSend(1, a.data(), count * 4, &sA);
  g.f[0]->postSend(1, a.data(), count * 4, &sB);
  onEachRank(2, [&](int r) {
    if (r == 1) g.f[1]->postSend(0, tiny.data(), 8, &sTiny);
    auto cs = r == 0 ? std::vector<Completion*>{&sA, &sB, &rTiny} : std::vector<Completion*>{&rCopy, &rReduce, &sTiny};
    EXPECT_TRUE(drive(*g.f[r], cs, Deadline::after(std::chrono::seconds(20))));
  });
  for (auto* c : {&sA, &sB, &rCopy, &rReduce, &rTiny, &sTiny}) ASSERT_TRUE(c->status.isOk()) << c->status.message();
  // Only the copy receive's message went single copy; the reduce one came through the ring.
  EXPECT_EQ(testhooks::singleCopySends(), before + 1);
  for (size_t i = 0; i < count; ++i) {
    ASSERT_EQ(b[i], a[i]) << i;
    ASSERT_EQ(out[i], static_cast<int32_t>(static_cast<uint32_t>(operand[i]) + static_cast<uint32_t>(a[i]))) << i;
  }
}

// `n` messages of `bytes` from rank 0's input to copy receives that rank 1 has posted and shown.
// Callers assert that the group came up (g.f.size() == 2) before using it.
struct QueuedMessages {
  Group g;
  size_t bytes;
  std::vector<uint8_t> data, got;
  std::vector<Completion> sends, recvs;  // sized once: the fabrics hold pointers into them

  QueuedMessages(int n, size_t messageBytes)
      : g(makeGroup(2, Kind::Shm, [](FabricConfig& c) { c.shmCmaBytes = 4096; })),
        bytes(messageBytes), data(n * bytes), got(n * bytes, 0), sends(n), recvs(n) {
    for (size_t i = 0; i < data.size(); ++i) data[i] = pattern(0, 1, 0, i);
    if (g.f.size() != 2) return;  // makeGroup failed (it said why): nothing to post on
    for (int m = 0; m < n; ++m) {
      RecvSink sink;
      sink.dst = got.data() + m * bytes;
      g.f[1]->postRecv(0, bytes, sink, &recvs[m]);
    }
    g.f[1]->progress();  // rank 0 can see the copy receives
  }
  void postSends() {
    for (size_t m = 0; m < sends.size(); ++m) g.f[0]->postSend(1, data.data() + m * bytes, bytes, &sends[m]);
  }
  // Drives both ranks until every message (and each rank's `more`) is through, then checks them.
  void finish(const std::function<void(int rank, std::vector<Completion*>& more)>& more = {}) {
    onEachRank(2, [&](int r) {
      std::vector<Completion*> cs;
      for (size_t m = 0; m < sends.size(); ++m) cs.push_back(r == 0 ? &sends[m] : &recvs[m]);
      if (more) more(r, cs);
      EXPECT_TRUE(drive(*g.f[r], cs, Deadline::after(std::chrono::seconds(20))));
    });
    for (size_t m = 0; m < sends.size(); ++m) {
      EXPECT_TRUE(sends[m].status.isOk()) << sends[m].status.message();
      EXPECT_TRUE(recvs[m].status.isOk()) << recvs[m].status.message();
    }
    EXPECT_EQ(got, data);
  }
};

// A sender that only sends to a peer publishes every queued single-copy message in one pass (a
// chunked broadcast root); one that also waits for the peer's data publishes one at a time, so
// that it cannot run ahead into a call whose receives the peer has not posted.
TEST(FabricSingleCopy, PublishesQueuedSendsTogetherOnlyOneWay) {
  if (!canReadOwnMemory()) GTEST_SKIP() << "process_vm_readv is not permitted here";
  for (const bool exchange : {false, true}) {
    SCOPED_TRACE(exchange ? "exchange" : "one way");
    constexpr int kMsgs = 4;
    QueuedMessages q(kMsgs, 64 << 10);
    ASSERT_EQ(q.g.f.size(), 2u);
    std::vector<uint8_t> tiny(8, 7), tinyIn(8, 0);
    Completion tinySend, tinyRecv;
    RecvSink tinySink;
    tinySink.dst = tinyIn.data();
    if (exchange) q.g.f[0]->postRecv(1, 8, tinySink, &tinyRecv);
    const uint64_t before = testhooks::singleCopySends();
    q.postSends();
    q.g.f[0]->progress();
    EXPECT_EQ(testhooks::singleCopySends() - before, exchange ? 1u : static_cast<uint64_t>(kMsgs));
    q.finish([&](int r, std::vector<Completion*>& cs) {
      if (!exchange) return;
      if (r == 1) q.g.f[1]->postSend(0, tiny.data(), 8, &tinySend);
      cs.push_back(r == 0 ? &tinyRecv : &tinySend);
    });
    EXPECT_EQ(testhooks::singleCopySends() - before, static_cast<uint64_t>(kMsgs));
  }
}

// Every published descriptor is withdrawn when the sender fails, not only the first. (The
// receiver's errors alone cannot show it: its first failed read fails the others too.)
TEST(FabricSingleCopy, WithdrawsEveryPublishedSend) {
  if (!canReadOwnMemory()) GTEST_SKIP() << "process_vm_readv is not permitted here";
  constexpr int kMsgs = 3;
  QueuedMessages q(kMsgs, 64 << 10);
  ASSERT_EQ(q.g.f.size(), 2u);
  const uint64_t before = testhooks::singleCopySends();
  q.postSends();
  q.g.f[0]->progress();
  ASSERT_EQ(testhooks::singleCopySends() - before, static_cast<uint64_t>(kMsgs));
  const uint64_t revokedBefore = testhooks::singleCopyRevokes();
  q.g.f[0]->cancelPending(remoteError("test: sender gives up", -1));
  EXPECT_EQ(testhooks::singleCopyRevokes() - revokedBefore, static_cast<uint64_t>(kMsgs));
  std::fill(q.data.begin(), q.data.end(), 0xee);  // the caller reuses its buffer
  std::vector<Completion*> cs;
  for (auto& r : q.recvs) cs.push_back(&r);
  ASSERT_TRUE(drive(*q.g.f[1], cs, Deadline::after(std::chrono::seconds(10))));
  for (int m = 0; m < kMsgs; ++m) {
    EXPECT_FALSE(q.recvs[m].status.isOk()) << m;
    EXPECT_NE(q.recvs[m].status.message().find("withdrew"), std::string::npos) << q.recvs[m].status.message();
  }
}

// Rank 0 sends 64 KiB of the user's input to rank 1 and runs `early` on its fabric before rank 1
// posts the copy receive; then both finish. With `exchange` rank 0 also waits for 8 bytes from
// rank 1 meanwhile. Returns how many messages went single copy (0: the ring); the bytes must
// arrive either way.
uint64_t singleCopiesWhenTheReceiveComesLate(const std::function<void(FabricConfig&)>& config, bool peerCopies,
                                             const std::function<void(Fabric&)>& early, bool exchange = false) {
  Group g = makeGroup(2, Kind::Shm, [&](FabricConfig& c) {
    c.shmCmaBytes = 4096;
    config(c);
  });
  EXPECT_EQ(g.f.size(), 2u);
  if (g.f.size() != 2) return ~0ull;
  const size_t bytes = 64 << 10;
  std::vector<uint8_t> data(bytes), got(bytes, 0);
  for (size_t i = 0; i < bytes; ++i) data[i] = pattern(0, 1, 0, i);
  std::vector<uint8_t> tiny(8, 7), tinyIn(8, 0);
  Completion send, recv, tinySend, tinyRecv;
  RecvSink tinySink;
  tinySink.dst = tinyIn.data();
  if (exchange) g.f[0]->postRecv(1, 8, tinySink, &tinyRecv);
  const uint64_t before = testhooks::singleCopySends();
  g.f[0]->postSend(1, data.data(), bytes, &send, true, peerCopies);
  early(*g.f[0]);
  RecvSink sink;
  sink.dst = got.data();
  g.f[1]->postRecv(0, bytes, sink, &recv);
  if (exchange) g.f[1]->postSend(0, tiny.data(), 8, &tinySend);
  onEachRank(2, [&](int r) {
    std::vector<Completion*> cs{r == 0 ? &send : &recv};
    if (exchange) cs.push_back(r == 0 ? &tinyRecv : &tinySend);
    EXPECT_TRUE(drive(*g.f[r], cs, Deadline::after(std::chrono::seconds(20))));
  });
  EXPECT_TRUE(send.status.isOk()) << send.status.message();
  EXPECT_TRUE(recv.status.isOk()) << recv.status.message();
  EXPECT_EQ(got, data);
  EXPECT_EQ(tinyIn, exchange ? tiny : std::vector<uint8_t>(8, 0));
  return testhooks::singleCopySends() - before;
}

// progressStarted() (a pass in the middle of local work) leaves a single-copy candidate whose
// receive will be a copy but is not posted yet for a later pass; progress() sends it through the
// ring at once (no one-way wait here), and so does progressStarted() where the receive may
// reduce (it would never show).
TEST(FabricSingleCopy, ProgressStartedWaitsForACopyReceive) {
  if (!canReadOwnMemory()) GTEST_SKIP() << "process_vm_readv is not permitted here";
  for (const auto& [started, peerCopies, single] :
       {std::tuple{true, true, 1u}, {false, true, 0u}, {true, false, 0u}}) {
    SCOPED_TRACE(std::string(started ? "progressStarted" : "progress") + (peerCopies ? ", peer copies" : ", no hint"));
    const uint64_t got = singleCopiesWhenTheReceiveComesLate([](FabricConfig& c) { c.cmaWaitUs = 0; }, peerCopies,
                                                             [&](Fabric& f) {
                                                               started ? f.progressStarted() : f.progress();
                                                             });
    EXPECT_EQ(got, single);
  }
}

// A one-way sender whose receive will be a copy (peerCopies) waits up to cmaWaitUs for it and then
// goes single copy; without the hint, or once the wait is over, the message takes the ring.
TEST(FabricSingleCopy, OneWaySenderWaitsForACopyReceive) {
  if (!canReadOwnMemory()) GTEST_SKIP() << "process_vm_readv is not permitted here";
  struct Case {
    const char* what;
    bool peerCopies;
    int waitUs;
    bool single;
  };
  for (const Case& k : {Case{"peer copies", true, 10000000, true}, Case{"no hint", false, 10000000, false},
                        Case{"wait over", true, 0, false}}) {
    SCOPED_TRACE(k.what);
    const uint64_t single = singleCopiesWhenTheReceiveComesLate(
        [&](FabricConfig& c) { c.cmaWaitUs = k.waitUs; }, k.peerCopies, [](Fabric& f) {
          f.progress();  // the receive is not posted yet
          f.progress();
        });
    EXPECT_EQ(single, k.single ? 1u : 0u);
  }
}

// In an exchange (the sender waits for this peer's data too) a message whose receive will be a
// copy is published single copy before that receive is posted, crowded cores or not: the end
// that came first used to take the ring (a 2-rank in-place allgather went single copy one way
// only). Without the hint it takes the ring, as it cannot know the receive.
TEST(FabricSingleCopy, ExchangePublishesAtOnceWhereThePeerCopies) {
  if (!canReadOwnMemory()) GTEST_SKIP() << "process_vm_readv is not permitted here";
  for (const int yieldUs : {0, 20000}) {
    for (const bool peerCopies : {true, false}) {
      SCOPED_TRACE(std::string(yieldUs ? "crowded cores" : "ranks fit the cores") +
                   (peerCopies ? ", peer copies" : ", no hint"));
      const uint64_t single = singleCopiesWhenTheReceiveComesLate(
          [&](FabricConfig& c) {
            c.cmaWaitUs = 0;  // no one-way wait: only the exchange rule may send it single copy
            c.yieldUs = yieldUs;
          },
          peerCopies,
          [](Fabric& f) {
            f.progress();  // the receive is not posted yet
            f.progress();
          },
          true);
      EXPECT_EQ(single, peerCopies ? 1u : 0u);
    }
  }
}

// A one-way stream is judged whole: of three queued 512 KiB messages (a chunked broadcast) the
// first takes the ring, where both cores copy, though alone it would go single copy; a sender in
// the middle of local work (progressStarted) leaves every copy to the receiver instead.
TEST(FabricSingleCopy, AOneWayStreamTakesTheRingUnlessTheSenderIsBusy) {
  if (!canReadOwnMemory()) GTEST_SKIP() << "process_vm_readv is not permitted here";
  for (const bool busy : {false, true}) {
    SCOPED_TRACE(busy ? "sender busy with local work" : "sender idle");
    constexpr int kMsgs = 3;
    QueuedMessages q(kMsgs, 512 << 10);
    ASSERT_EQ(q.g.f.size(), 2u);
    const uint64_t before = testhooks::singleCopySends();
    q.postSends();
    busy ? q.g.f[0]->progressStarted() : q.g.f[0]->progress();
    q.finish();
    // Idle, the first message goes through the ring; the last kCmaOneWayBytes of the stream,
    // short enough, go single copy.
    static_assert(kMsgs * (512 << 10) - kCmaOneWayBytes == 512 << 10);
    EXPECT_EQ(testhooks::singleCopySends() - before, busy ? static_cast<uint64_t>(kMsgs) : kMsgs - 1u);
  }
}

// A long one-way stream goes through the ring, and the sender times it; where the ring is slower
// than the probe rate (here: any rate), it tries single copy for a warm-up window and a measured
// one (oneway_judge.hpp). Without a probe rate (a fabric's default) it never does.
TEST(FabricSingleCopy, ALongOneWayStreamTriesSingleCopyWhereTheRingIsSlow) {
  if (!canReadOwnMemory()) GTEST_SKIP() << "process_vm_readv is not permitted here";
  for (const bool probe : {false, true}) {
    SCOPED_TRACE(probe ? "ring below the probe rate" : "no probe rate");
    constexpr int kMsgs = 48;  // 47 judged: two ring windows of 8 MiB, then two of single copy
    QueuedMessages q(kMsgs, 1 << 20);
    ASSERT_EQ(q.g.f.size(), 2u);
    q.g.f[0]->setOneWayProbeBelow(probe ? 1e18 : 0);
    const uint64_t before = testhooks::singleCopySends();
    q.postSends();
    q.finish();
    const uint64_t single = testhooks::singleCopySends() - before;
    static_assert(kCmaOneWayBytes == 1 << 20);  // only the last message is short enough by itself
    if (probe) {
      EXPECT_GE(single, 2 * OneWayJudge::kWindowBytes / (1 << 20) + 1);
    } else {
      EXPECT_EQ(single, 1u);
    }
  }
}

// Each rule that keeps a large message in the ring, alone: bytes the schedule just wrote, a
// sender with nothing else to wait for (past kCmaOneWayBytes), ranks outnumbering cores unless the
// sender also waits for this peer's data. The bytes arrive either way.
TEST(FabricSingleCopy, TakesTheRingWhereItPaysBetter) {
  if (!canReadOwnMemory()) GTEST_SKIP() << "process_vm_readv is not permitted here";
  struct Case {
    const char* what;
    bool atRest, senderWaits;
    int yieldUs;
    size_t bytes;
    bool single;
  };
  const size_t oneWay = kCmaOneWayBytes;
  for (const Case& k : {Case{"all rules met", true, true, 0, 100000, true},
                        Case{"just written", false, true, 0, 100000, false},
                        Case{"sender idle, up to the one-way size", true, false, 0, oneWay, true},
                        Case{"sender idle", true, false, 0, oneWay + 64, false},
                        Case{"sender waits, large", true, true, 0, oneWay, true},
                        Case{"crowded cores, an exchange with the peer", true, true, 20000, 100000, true},
                        Case{"crowded cores, one way", true, false, 20000, 100000, false}}) {
    SCOPED_TRACE(k.what);
    Group g = makeGroup(2, Kind::Shm, [&](FabricConfig& c) {
      c.shmCmaBytes = 4096;
      c.yieldUs = k.yieldUs;
    });
    ASSERT_EQ(g.f.size(), 2u);
    const size_t bytes = k.bytes;
    std::vector<uint8_t> data(bytes), got(bytes, 0), tiny(8, 7), tinyIn(8, 0);
    for (size_t i = 0; i < bytes; ++i) data[i] = pattern(0, 1, 0, i);
    Completion send, recv, tinySend, tinyRecv;
    RecvSink sink, tinySink;
    sink.dst = got.data();
    tinySink.dst = tinyIn.data();
    g.f[1]->postRecv(0, bytes, sink, &recv);
    g.f[1]->progress();  // rank 0 can see the copy receive
    if (k.senderWaits) g.f[0]->postRecv(1, 8, tinySink, &tinyRecv);
    const uint64_t before = testhooks::singleCopySends();
    g.f[0]->postSend(1, data.data(), bytes, &send, k.atRest);
    onEachRank(2, [&](int r) {
      std::vector<Completion*> cs = r == 0 ? std::vector<Completion*>{&send} : std::vector<Completion*>{&recv};
      if (k.senderWaits) {
        if (r == 1) g.f[1]->postSend(0, tiny.data(), 8, &tinySend);
        cs.push_back(r == 0 ? &tinyRecv : &tinySend);
      }
      EXPECT_TRUE(drive(*g.f[r], cs, Deadline::after(std::chrono::seconds(20))));
    });
    ASSERT_TRUE(send.status.isOk()) << send.status.message();
    ASSERT_TRUE(recv.status.isOk()) << recv.status.message();
    EXPECT_EQ(testhooks::singleCopySends() - before, k.single ? 1u : 0u);
    EXPECT_EQ(got, data);
  }
}

TEST(FabricSelf, SingleRankFabricLoopsBack) {
  Group g = makeGroup(1, Kind::Auto);
  ASSERT_EQ(g.f.size(), 1u);
  Fabric& f = *g.f[0];
  EXPECT_STREQ(f.transportOf(0), "self");
  std::vector<int> a(100), b(100, 0), c(7);
  std::iota(a.begin(), a.end(), 5);
  Completion s1, s2, r1, r2;
  RecvSink sb{b.data(), nullptr, nullptr, 1}, sc{c.data(), nullptr, nullptr, 1};
  f.postRecv(0, 400, sb, &r1);  // receive before send is fine
  f.postSend(0, a.data(), 400, &s1);
  f.postSend(0, a.data(), 0, &s2);
  f.postRecv(0, 0, sc, &r2);
  ASSERT_TRUE(drive(f, {&s1, &s2, &r1, &r2}, Deadline::after(std::chrono::seconds(5))));
  EXPECT_TRUE(r1.status.isOk() && r2.status.isOk());
  EXPECT_EQ(a, b);
  Completion s3, r3;
  f.postSend(0, a.data(), 8, &s3);
  f.postRecv(0, 12, sb, &r3);
  ASSERT_TRUE(drive(f, {&s3, &r3}, Deadline::after(std::chrono::seconds(5))));
  EXPECT_EQ(r3.status.code(), loomRemoteError);
  EXPECT_NE(r3.status.message().find("8 bytes"), std::string::npos) << r3.status.message();
  EXPECT_NE(r3.status.message().find("12 bytes"), std::string::npos) << r3.status.message();
}

TEST(FabricSetup, BadArguments) {
  FabricConfig c = baseConfig(3, 2, Kind::Auto, 1);
  EXPECT_EQ(Fabric::create(c).status().code(), loomInvalidArgument);
  c = baseConfig(0, 2, Kind::Auto, freshCommId());
  auto f = Fabric::create(c);
  ASSERT_TRUE(f.isOk());
  EXPECT_EQ((*f)->connect({"garbage", (*f)->address()}, Deadline::after(std::chrono::seconds(1))).code(), loomInvalidArgument);
  EXPECT_EQ((*f)->connect({(*f)->address()}, Deadline::after(std::chrono::seconds(1))).code(), loomInvalidArgument);
  Completion done;
  char x = 0;
  (*f)->postSend(5, &x, 1, &done);
  EXPECT_TRUE(done.done);
  EXPECT_EQ(done.status.code(), loomInvalidArgument);
}

TEST(FabricSetup, ForcedShmAcrossHostsIsAnError) {
  uint64_t id = freshCommId();
  auto c0 = baseConfig(0, 2, Kind::Shm, id), c1 = baseConfig(1, 2, Kind::Shm, id);
  c1.hostId = "elsewhere";
  auto f0 = Fabric::create(c0), f1 = Fabric::create(c1);
  ASSERT_TRUE(f0.isOk() && f1.isOk());
  Status st = (*f0)->connect({(*f0)->address(), (*f1)->address()}, Deadline::after(std::chrono::seconds(2)));
  EXPECT_EQ(st.code(), loomInvalidUsage);
  EXPECT_NE(st.message().find("rank 1"), std::string::npos) << st.message();
}

}  // namespace

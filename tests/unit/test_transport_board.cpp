// The board (shm_board.cpp): who has one, posting and reading entries, reuse only after every
// rank finished, agreement on its geometry, and the segment header checks that guard it.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstring>

#include "test_transport_util.hpp"
#include "transport/fabric_impl.hpp"

using namespace loom;
using namespace loom::transport;
using namespace loom::transport::testing;

namespace {

Group boardGroup(int n, Kind force = Kind::Shm, int depth = 2) {
  return makeGroup(n, force, [&](FabricConfig& c) {
    c.boardBytes = 1000;  // rounded up to 1024
    c.boardDepth = depth;
  });
}

const wire::BoardHeader* waitEntry(Fabric& f, int peer, uint64_t call) {
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < end) {
    if (auto* h = f.boardEntry(peer, call)) return h;
    f.waitForActivity(1000);  // the fabric caps a sleep at its liveness interval
  }
  return nullptr;
}

wire::BoardTag tag(uint64_t count) { return {count, 0, 0, 9, 0, 0}; }

TEST(Board, OnlyWhereEveryPeerIsOnSharedMemory) {
  EXPECT_EQ(boardGroup(3).f[0]->boardBytes(), 1024u);
  EXPECT_EQ(boardGroup(2, Kind::Tcp).f[1]->boardBytes(), 0u);
  Group mixed = makeGroup(4, Kind::Auto, [](FabricConfig& c) { c.hostId = c.rank < 2 ? "host-a" : "host-b"; });
  EXPECT_EQ(mixed.f[0]->boardBytes(), 0u);
  EXPECT_EQ(boardGroup(1).f[0]->boardBytes(), 0u);
  EXPECT_EQ(boardGroup(2, Kind::Shm, 0).f[0]->boardBytes(), 0u);
}

// Each rank posts its rank in every word of its entry for calls 0..39 and reads every entry
// (its own too): what it reads is what the owner posted for that call, with its tag and size.
TEST(Board, EveryRankReadsEveryEntryOfEveryCall) {
  const int n = 3;
  Group g = boardGroup(n);
  std::vector<std::string> errors(n);
  onEachRank(n, [&](int r) {
    Fabric& f = *g.f[r];
    for (uint64_t call = 0; call < 40; ++call) {
      const size_t words = 1 + call % 256;
      auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (!f.boardFree(call) && std::chrono::steady_clock::now() < end) f.waitForActivity(20);
      auto* p = reinterpret_cast<uint32_t*>(f.boardPayload(call));
      for (size_t i = 0; i < words; ++i) p[i] = static_cast<uint32_t>(r * 1000 + call);
      f.boardPublish(call, tag(words), words * 4);
      for (int q = 0; q < n; ++q) {
        const wire::BoardHeader* h = waitEntry(f, q, call);
        if (!h) {
          errors[r] = "no entry from rank " + std::to_string(q);
          return;
        }
        auto* v = reinterpret_cast<const uint32_t*>(reinterpret_cast<const char*>(h) + wire::kBoardHeaderBytes);
        if (!(h->tag == tag(words)) || h->bytes != words * 4 || v[0] != q * 1000 + call || v[words - 1] != v[0])
          errors[r] = "rank " + std::to_string(q) + " call " + std::to_string(call) + ": wrong entry";
      }
      f.boardFinish(call);
    }
  });
  for (int r = 0; r < n; ++r) EXPECT_EQ(errors[r], "") << "rank " << r;
}

// With 2 entries a rank may post calls 0 and 1 at once, but call 2 reuses call 0's entry: only
// once every rank has finished call 0.
TEST(Board, AnEntryIsReusedOnlyOnceEveryRankFinishedIt) {
  Group g = boardGroup(3);
  Fabric& a = *g.f[0];
  for (uint64_t call : {0, 1}) {
    ASSERT_TRUE(a.boardFree(call));
    a.boardPublish(call, tag(1), 4);
  }
  EXPECT_FALSE(a.boardFree(2));
  a.boardFinish(0);
  g.f[1]->boardFinish(0);
  EXPECT_FALSE(a.boardFree(2));
  g.f[2]->boardFinish(0);
  EXPECT_TRUE(a.boardFree(2));
  EXPECT_FALSE(a.boardFree(3));  // call 1 is not finished anywhere
}

// An entry not yet posted reads as absent, and a rank asleep waiting for it is woken by the post:
// ten posts, each 30 ms after the waiter went to sleep. Without the doorbell a sleeper only looks
// again after up to 100 ms (the liveness interval), about 50 ms late on average.
TEST(Board, ASleepingWaiterIsWokenByThePost) {
  Group g = boardGroup(2, Kind::Shm, 16);
  EXPECT_EQ(g.f[1]->boardEntry(0, 0), nullptr);
  using Clock = std::chrono::steady_clock;
  const int kPosts = 10;
  std::vector<Clock::time_point> posted(kPosts), seen(kPosts);
  std::thread poster([&] {
    for (int c = 0; c < kPosts; ++c) {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      posted[c] = Clock::now();
      g.f[0]->boardPublish(c, tag(1), 4);
    }
  });
  for (int c = 0; c < kPosts; ++c) {
    ASSERT_NE(waitEntry(*g.f[1], 0, c), nullptr);
    seen[c] = Clock::now();
  }
  poster.join();
  std::vector<double> lateMs;
  for (int c = 0; c < kPosts; ++c) lateMs.push_back(std::chrono::duration<double, std::milli>(seen[c] - posted[c]).count());
  std::sort(lateMs.begin(), lateMs.end());
  EXPECT_LT(lateMs[kPosts / 2], 20.0) << "median wake-up after a post, ms";
}

// With more ranks than cores a wait yields for yieldUs before it sleeps, counted from the last
// movement. Board calls are movement too: a run of them longer than yieldUs must go on yielding,
// not sleep at every wait (a 4-rank 8-byte allreduce on 2 cores went from 1.6 us to 8 us a call
// once a loop of them outlasted the 20 ms window).
TEST(Board, ARunOfBoardCallsKeepsYieldingPastTheYieldWindow) {
  const int n = 2;
  Group g = makeGroup(n, Kind::Shm, [](FabricConfig& c) {
    c.boardBytes = 64;
    c.boardDepth = 16;
    c.spinUs = 0;
    c.yieldUs = 2000;
  });
  using Clock = std::chrono::steady_clock;
  const auto runFor = std::chrono::milliseconds(30);  // 15 yield windows
  std::vector<uint64_t> calls(n, 0);
  std::vector<std::string> errors(n);
  const uint64_t sleepsBefore = testhooks::bellSleeps();
  onEachRank(n, [&](int r) {
    Fabric& f = *g.f[r];
    const auto start = Clock::now();
    for (uint64_t call = 0;; ++call) {
      // Rank 0 decides when to stop; rank 1 learns it from rank 0's entry.
      const bool last = r == 0 && Clock::now() - start > runFor;
      while (!f.boardFree(call)) f.waitForActivity(100);
      *reinterpret_cast<uint64_t*>(f.boardPayload(call)) = last;
      f.boardPublish(call, tag(1), 8);
      const wire::BoardHeader* h = waitEntry(f, 1 - r, call);
      if (!h) {
        errors[r] = "no entry for call " + std::to_string(call);
        return;
      }
      const bool peerLast = *reinterpret_cast<const uint64_t*>(reinterpret_cast<const char*>(h) + wire::kBoardHeaderBytes);
      f.boardFinish(call);
      calls[r] = call + 1;
      if (last || peerLast) break;
    }
  });
  for (int r = 0; r < n; ++r) ASSERT_EQ(errors[r], "") << "rank " << r;
  const uint64_t sleeps = testhooks::bellSleeps() - sleepsBefore;
  // A sleep is still right where a wait outlasts the window (a descheduled peer); not per call.
  EXPECT_LT(sleeps, 10 + calls[0] / 20) << "futex sleeps in " << calls[0] << " board calls";
}

// The board is faulted in at set-up, on the owner's side and in each peer's mapping: a page
// fault costs as much as a small call, and the first `depth` calls of a run took one per page
// they touched (a 4-rank 8 KiB allreduce ran 8.5 us a call for its first 200 calls, 5 us after).
TEST(Board, IsFaultedInAtSetUp) {
  const uint32_t depth = 16;
  const size_t bytes = 16 << 10;
  auto minorFaults = [] {
    rusage u{};
    getrusage(RUSAGE_THREAD, &u);
    return u.ru_minflt;
  };
  // Rank 1 fills every entry, rank 0 reads them through its own mapping: this thread's page
  // faults while writing and while reading.
  auto fillAndRead = [&](long* writing, long* reading) {
    Group g = makeGroup(2, Kind::Shm, [&](FabricConfig& c) {
      c.boardBytes = bytes;
      c.boardDepth = depth;
    });
    const long before = minorFaults();
    for (uint64_t call = 0; call < depth; ++call) {
      ASSERT_TRUE(g.f[1]->boardFree(call));
      std::memset(g.f[1]->boardPayload(call), static_cast<int>(call + 1), bytes);
      g.f[1]->boardPublish(call, tag(bytes / 4), bytes);
    }
    *writing = minorFaults() - before;
    uint64_t sum = 0;
    for (uint64_t call = 0; call < depth; ++call) {
      const wire::BoardHeader* h = g.f[0]->boardEntry(1, call);
      ASSERT_NE(h, nullptr) << "call " << call;
      const auto* data = reinterpret_cast<const uint8_t*>(h) + wire::kBoardHeaderBytes;
      for (size_t i = 0; i < bytes; i += 512) sum += data[i];
    }
    *reading = minorFaults() - before - *writing;
    EXPECT_EQ(sum, depth * (depth + 1) / 2 * (bytes / 512));
  };
  long writing = 0, reading = 0;
  fillAndRead(&writing, &reading);  // first run of this code: its own pages may fault in
  fillAndRead(&writing, &reading);  // a fresh group: only its memory is new
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // Their shadow memory faults in on first use too: the count says nothing about the board.
  (void)writing;
  (void)reading;
#else
  // 4 pages an entry: 64 faults each way when the board is left to fault on first use.
  EXPECT_LE(writing, 2) << "page faults writing " << depth << " entries";
  EXPECT_LE(reading, 2) << "page faults reading them";
#endif
}

// A board past kBoardPrefaultBytes (16 entries of 1 MiB here) is not committed whole at set-up:
// its payload pages stay unallocated until used, while every entry's header is mapped for its
// readers. The default-sized board is resident throughout.
TEST(Board, OnlyHeadersOfAVeryLargeBoardAreFaultedIn) {
  auto resident = [](const void* p) {
    const uintptr_t page = reinterpret_cast<uintptr_t>(p) & ~uintptr_t(kPage - 1);
    unsigned char in = 0;
    EXPECT_EQ(mincore(reinterpret_cast<void*>(page), kPage, &in), 0) << std::strerror(errno);
    return (in & 1) != 0;
  };
  for (const size_t bytes : {size_t(16) << 10, size_t(1) << 20}) {
    Group g = makeGroup(2, Kind::Shm, [&](FabricConfig& c) {
      c.boardBytes = bytes;
      c.boardDepth = 16;
    });
    const bool whole = 16 * (bytes + wire::kLine) <= kBoardPrefaultBytes;
    for (uint64_t call = 0; call < 16; ++call) {
      const char* payload = g.f[0]->boardPayload(call);
      EXPECT_EQ(resident(payload + bytes / 2), whole) << bytes << "-byte entries, call " << call;  // not a header page
    }
    // Rank 0 looks at each of rank 1's entries (none posted yet) without a page fault.
    rusage before{}, after{};
    getrusage(RUSAGE_THREAD, &before);
    for (uint64_t call = 0; call < 16; ++call) EXPECT_EQ(g.f[0]->boardEntry(1, call), nullptr);
    getrusage(RUSAGE_THREAD, &after);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)  // their shadow memory faults too
    EXPECT_LE(after.ru_minflt - before.ru_minflt, 2) << bytes << "-byte entries";
#endif
  }
}

TEST(Board, RanksMustAgreeOnItsGeometry) {
  uint64_t id = freshCommId();
  auto c0 = baseConfig(0, 2, Kind::Shm, id), c1 = baseConfig(1, 2, Kind::Shm, id);
  c1.boardBytes = c0.boardBytes * 2;
  auto f0 = Fabric::create(c0), f1 = Fabric::create(c1);
  ASSERT_TRUE(f0.isOk() && f1.isOk());
  Status st = (*f0)->connect({(*f0)->address(), (*f1)->address()}, Deadline::after(std::chrono::seconds(2)));
  EXPECT_EQ(st.code(), loomInvalidUsage);
  EXPECT_NE(st.message().find("LOOM_SHM_BOARD_BYTES"), std::string::npos) << st.message();
}

// Each bad setting is refused naming the variable.
void expectRefused(const FabricConfig& c, const std::string& names) {
  auto f = Fabric::create(c);
  ASSERT_FALSE(f.isOk());
  EXPECT_EQ(f.status().code(), loomInvalidArgument);
  EXPECT_NE(f.status().message().find(names), std::string::npos) << f.status().message();
}

TEST(Board, BadSettingsAreRefused) {
  auto c = baseConfig(0, 2, Kind::Shm, freshCommId());
  c.boardDepth = -1;
  expectRefused(c, "LOOM_SHM_BOARD_DEPTH=-1");
  c.boardDepth = 4;
  c.boardBytes = 2 << 20;
  expectRefused(c, "LOOM_SHM_BOARD_BYTES=2097152");
}

// A header whose board overlaps the rings, or is misaligned, is refused at connect.
TEST(Board, SegmentHeaderChecksTheBoard) {
  wire::SegHeader h{};
  h.magic = wire::kSegMagic;
  h.version = wire::kVersion;
  h.rank = 0;
  h.nranks = 2;
  h.slots = 2;
  h.slotBytes = 4096;
  h.ringStride = 16384;
  h.commId = 7;
  h.boardOffset = 4096;
  h.boardBytes = 1024;
  h.boardDepth = 2;
  h.ringsOffset = 8192;
  const size_t seg = 8192 + 2 * 16384;
  EXPECT_TRUE(checkSegHeader(h, seg, 0, 2, 7).isOk());
  auto expectBadBoard = [&](const wire::SegHeader& bad) {
    Status st = checkSegHeader(bad, seg, 0, 2, 7);
    EXPECT_EQ(st.code(), loomInvalidArgument);
    EXPECT_NE(st.message().find("overlaps the header or the rings"), std::string::npos) << st.message();
  };
  auto bad = h;
  bad.boardDepth = 4;  // 64 + 4 * 1088 bytes from 4096 reach past 8192
  expectBadBoard(bad);
  bad = h;
  bad.boardBytes = 1000;
  expectBadBoard(bad);
  bad = h;
  bad.boardOffset = 64;  // inside the header
  expectBadBoard(bad);
}

}  // namespace

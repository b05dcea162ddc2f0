// Failure detection and integrity of the fabric: heartbeats keep an idle pair alive, a stopped
// or killed peer (a forked child) is reported within LOOM_FAILURE_DETECT, a clean destroy is
// not a failure, heartbeats never garble data frames, and CRC32C catches a flipped byte.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include <cstring>
#include <numeric>

#include "test_transport_util.hpp"
#include "transport/crc32c.hpp"

using namespace loom;
using namespace loom::transport;
using namespace loom::transport::testing;
using namespace std::chrono_literals;

namespace {

constexpr double kDetect = 1.0;  // LOOM_FAILURE_DETECT in these tests

double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Calls checkPeers() about every 20 ms (as the core's idle loop does) for `seconds`, or until
// the fabric fails; returns the seconds spent.
double idle(Fabric& f, double seconds) {
  auto start = Clock::now();
  while (secondsSince(start) < seconds && f.status().isOk()) {
    f.checkPeers();
    std::this_thread::sleep_for(20ms);
  }
  return secondsSince(start);
}

bool readLine(int fd, std::string* out, int timeoutMs = 10000) {
  char ch;
  out->clear();
  pollfd p{fd, POLLIN, 0};
  while (poll(&p, 1, timeoutMs) == 1 && read(fd, &ch, 1) == 1) {
    if (ch == '\n') return true;
    *out += ch;
  }
  return false;
}

bool writeLine(int fd, const std::string& s) {
  std::string l = s + "\n";
  return write(fd, l.data(), l.size()) == static_cast<ssize_t>(l.size());
}

enum class ChildMode { Beat, CloseOnRequest };

// Rank 1 in a forked child, rank 0 here. Beat: the child runs checkPeers() every 20 ms until
// killed (at most 30 s). CloseOnRequest: on "close" it destroys its fabric and exits 0.
struct ForkedPair {
  pid_t child = -1;
  std::unique_ptr<Fabric> f;
  uint64_t id = 0;
  int toChild = -1, toParent = -1;

  ForkedPair(Kind kind, ChildMode mode) {
    id = freshCommId();
    int a[2], b[2];
    if (pipe(a) != 0 || pipe(b) != 0) return;
    auto config = [&](int rank) {
      FabricConfig c = baseConfig(rank, 2, kind, id);
      c.failureDetectSeconds = kDetect;
      return c;
    };
    pid_t parent = getpid();
    child = fork();
    if (child == 0) {
      close(a[1]);
      close(b[0]);
      auto f1 = Fabric::create(config(1));
      if (!f1.isOk()) _exit(2);
      std::string theirs, line;
      if (!writeLine(b[1], (*f1)->address()) || !readLine(a[0], &theirs)) _exit(3);
      if (!(*f1)->connect({theirs, (*f1)->address()}, Deadline::after(10s)).isOk()) _exit(4);
      if (!writeLine(b[1], "ok") || !readLine(a[0], &line)) _exit(5);
      (*f1)->finishSetup();
      // Tell the parent the segment name is gone, so a test that kills us now leaks nothing.
      if (!writeLine(b[1], "set")) _exit(7);
      auto start = Clock::now();
      if (mode == ChildMode::Beat) {
        while (getppid() == parent && secondsSince(start) < 30) {
          (*f1)->checkPeers();
          usleep(20000);
        }
        _exit(0);
      }
      if (!readLine(a[0], &line, 30000) || line != "close") _exit(6);
      f1.value().reset();
      writeLine(b[1], "closed");
      _exit(0);
    }
    close(a[0]);
    close(b[1]);
    toChild = a[1];
    toParent = b[0];
    if (child < 0) return;
    auto f0 = Fabric::create(config(0));
    std::string childAddr, ok;
    if (!f0.isOk() || !readLine(toParent, &childAddr) || !writeLine(toChild, (*f0)->address())) return;
    Status st = (*f0)->connect({(*f0)->address(), childAddr}, Deadline::after(10s));
    EXPECT_TRUE(st.isOk()) << st.message();
    if (!st.isOk() || !readLine(toParent, &ok) || !writeLine(toChild, "go")) return;
    (*f0)->finishSetup();
    if (!readLine(toParent, &ok) || ok != "set") return;
    f = std::move(f0.value());
  }
  ~ForkedPair() {
    if (child > 0) {
      kill(child, SIGKILL);
      waitpid(child, nullptr, 0);
    }
    if (toChild >= 0) close(toChild);
    if (toParent >= 0) close(toParent);
  }
  // Reaps a child that exits by itself (at most 10 s); true if it exited with status 0.
  bool reap() {
    for (int i = 0; i < 1000; ++i) {
      int status = 0;
      if (waitpid(child, &status, WNOHANG) == child) {
        child = -1;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
      }
      usleep(10000);
    }
    return false;
  }
};

std::string who1(pid_t pid) { return "rank 1 (host test-host, pid " + std::to_string(pid) + ") failed: "; }

// ---- CRC32C ----

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32cPortable("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
  // RFC 3720 (iSCSI) B.4
  std::vector<uint8_t> v(32, 0);
  EXPECT_EQ(crc32c(v.data(), 32), 0x8A9136AAu);
  std::fill(v.begin(), v.end(), 0xff);
  EXPECT_EQ(crc32c(v.data(), 32), 0x62A8AB43u);
  std::iota(v.begin(), v.end(), 0);
  EXPECT_EQ(crc32c(v.data(), 32), 0x46DD794Eu);
  EXPECT_EQ(crc32cPortable(v.data(), 32), 0x46DD794Eu);
  for (int i = 0; i < 32; ++i) v[i] = static_cast<uint8_t>(31 - i);
  EXPECT_EQ(crc32c(v.data(), 32), 0x113FDB5Cu);
}

TEST(Crc32c, HardwareMatchesTableAndChains) {
  std::mt19937 rng(7);
  std::vector<uint8_t> buf(70000);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (size_t len : {0, 1, 7, 8, 9, 63, 64, 65, 1000, 4097, 65536}) {
    for (size_t off : {0, 1, 3, 5}) {
      uint32_t a = crc32c(buf.data() + off, len), b = crc32cPortable(buf.data() + off, len);
      ASSERT_EQ(a, b) << len << " at " << off;
      size_t cut = len / 3;
      ASSERT_EQ(crc32c(buf.data() + off + cut, len - cut, crc32c(buf.data() + off, cut)), a);
    }
  }
  RecordProperty("crc32c_hardware", crc32cHardware() ? "yes" : "no");
}

// ---- Healthy pairs ----

class Faults : public ::testing::TestWithParam<Kind> {};

TEST_P(Faults, IdlePairStaysAliveBeyondTwiceTheBound) {
  Group g = makeGroup(2, GetParam(), [](FabricConfig& c) { c.failureDetectSeconds = kDetect; });
  ASSERT_EQ(g.f.size(), 2u);
  onEachRank(2, [&](int r) { idle(*g.f[r], 2.5 * kDetect); });
  for (int r = 0; r < 2; ++r) {
    EXPECT_TRUE(g.f[r]->status().isOk()) << g.f[r]->status().message();
    EXPECT_TRUE(g.f[r]->failedPeers().empty());
  }
  // Data still flows, in order, after the heartbeats.
  onEachRank(2, [&](int r) {
    const size_t bytes = (700 << 10) + 3;
    std::vector<uint8_t> out(bytes), in(bytes);
    for (size_t i = 0; i < bytes; ++i) out[i] = pattern(r, 1 - r, 0, i);
    Completion s, c;
    RecvSink sink;
    sink.dst = in.data();
    g.f[r]->postSend(1 - r, out.data(), bytes, &s);
    g.f[r]->postRecv(1 - r, bytes, sink, &c);
    ASSERT_TRUE(drive(*g.f[r], {&s, &c}, Deadline::after(10s)));
    ASSERT_TRUE(c.status.isOk()) << c.status.message();
    for (size_t i = 0; i < bytes; ++i) ASSERT_EQ(in[i], pattern(1 - r, r, 0, i)) << i;
  });
}

// The receiver leaves its posted receive unread while the sender's heartbeat and then data go
// out, so one read returns heartbeat + data frame: the bytes must be moved into place.
TEST(FaultsTcp, HeartbeatsFallBetweenDataFrames) {
  Group g = makeGroup(2, Kind::Tcp, [](FabricConfig& c) {
    c.failureDetectSeconds = 0.6;  // heartbeat every 200 ms
    c.nsocks = 1;
  });
  ASSERT_EQ(g.f.size(), 2u);
  const std::vector<size_t> sizes = {4096, 1, 0, (512 << 10) + 64, 100000, 64};
  onEachRank(2, [&](int r) {
    Fabric& f = *g.f[r];
    for (size_t m = 0; m < sizes.size(); ++m) {
      const size_t bytes = sizes[m];
      const bool reduce = m % 2 == 1 && bytes % 4 == 0;
      std::vector<uint8_t> buf(bytes + 1, 0);
      Completion c;
      if (r == 0) {
        idle(f, 0.25);  // a heartbeat goes out
        for (size_t i = 0; i < bytes; ++i) buf[i] = pattern(0, 1, m, i);
        f.postSend(1, buf.data(), bytes, &c);
      } else {
        std::vector<uint8_t> operand(bytes + 1);
        for (size_t i = 0; i < bytes; ++i) operand[i] = static_cast<uint8_t>(i * 7);
        f.postRecv(0, bytes, sinkInto(buf.data(), reduce ? operand.data() : nullptr), &c);
        std::this_thread::sleep_for(350ms);  // heartbeat and data queue up unread
        ASSERT_TRUE(drive(f, {&c}, Deadline::after(10s)));
        ASSERT_TRUE(c.status.isOk()) << c.status.message();
        std::vector<uint8_t> want(bytes);
        for (size_t i = 0; i < bytes; ++i) want[i] = pattern(0, 1, m, i);
        if (reduce) sumInt32(want.data(), operand.data(), std::vector<uint8_t>(want).data(), bytes / 4);
        for (size_t i = 0; i < bytes; ++i) ASSERT_EQ(buf[i], want[i]) << "message " << m << " byte " << i;
        EXPECT_EQ(buf[bytes], 0) << "guard byte";
        continue;
      }
      ASSERT_TRUE(drive(f, {&c}, Deadline::after(10s)));
      ASSERT_TRUE(c.status.isOk()) << c.status.message();
    }
    idle(f, 0.3);
  });
  for (int r = 0; r < 2; ++r) EXPECT_TRUE(g.f[r]->status().isOk()) << g.f[r]->status().message();
}

// ---- Dead peers ----

TEST(FaultsTcp, StoppedPeerDetectedWithinBound) {
  ForkedPair fp(Kind::Tcp, ChildMode::Beat);
  ASSERT_TRUE(fp.f);
  EXPECT_GE(idle(*fp.f, 2.5 * kDetect), 2.5 * kDetect);  // heartbeats keep it alive
  ASSERT_TRUE(fp.f->status().isOk()) << fp.f->status().message();
  ASSERT_EQ(kill(fp.child, SIGSTOP), 0);
  double took = idle(*fp.f, 10);
  Status st = fp.f->status();
  ASSERT_FALSE(st.isOk());
  EXPECT_EQ(st.code(), loomRemoteError);
  EXPECT_EQ(st.peer(), 1);
  EXPECT_NE(st.message().find(who1(fp.child) + "nothing received"), std::string::npos) << st.message();
  EXPECT_EQ(fp.f->failedPeers(), std::vector<int>{1});
  EXPECT_LE(took, kDetect + 0.5);
  EXPECT_GE(took, kDetect * 0.6);  // nothing arrives after the stop; the bound is from the last byte
  RecordProperty("detect_seconds", std::to_string(took));
  std::printf("tcp SIGSTOP detected after %.3f s (LOOM_FAILURE_DETECT=%.1f)\n", took, kDetect);
  // Every later operation fails promptly with the same error.
  Completion c;
  fp.f->postSend(1, "x", 1, &c);
  EXPECT_TRUE(c.done);
  EXPECT_EQ(c.status.peer(), 1);
}

TEST(FaultsShm, StoppedPeerIsAliveKilledPeerIsNot) {
  ForkedPair fp(Kind::Shm, ChildMode::Beat);
  ASSERT_TRUE(fp.f);
  ASSERT_EQ(kill(fp.child, SIGSTOP), 0);
  // A stopped process is alive by pid: shm liveness does not see it (LOOM_TIMEOUT does).
  idle(*fp.f, 2 * kDetect);
  EXPECT_TRUE(fp.f->status().isOk()) << fp.f->status().message();
  ASSERT_EQ(kill(fp.child, SIGKILL), 0);
  double took = idle(*fp.f, 10);
  ASSERT_FALSE(fp.f->status().isOk());
  EXPECT_NE(fp.f->status().message().find(who1(fp.child) + "process exited"), std::string::npos)
      << fp.f->status().message();
  EXPECT_LE(took, kDetect);
}

TEST_P(Faults, KilledPeerDetectedWithNothingPending) {
  ForkedPair fp(GetParam(), ChildMode::Beat);
  ASSERT_TRUE(fp.f);
  idle(*fp.f, 0.3);
  ASSERT_TRUE(fp.f->status().isOk()) << fp.f->status().message();
  ASSERT_EQ(kill(fp.child, SIGKILL), 0);
  double took = idle(*fp.f, 10);
  Status st = fp.f->status();
  ASSERT_FALSE(st.isOk());
  EXPECT_EQ(st.code(), loomRemoteError);
  EXPECT_EQ(st.peer(), 1);
  EXPECT_NE(st.message().find(who1(fp.child)), std::string::npos) << st.message();
  EXPECT_EQ(fp.f->failedPeers(), std::vector<int>{1});
  EXPECT_LE(took, kDetect);
  std::printf("%s SIGKILL detected after %.3f s: %s\n", GetParam() == Kind::Tcp ? "tcp" : "shm", took,
              st.message().c_str());
}

TEST_P(Faults, CleanDestroyIsNotAFailure) {
  ForkedPair fp(GetParam(), ChildMode::CloseOnRequest);
  ASSERT_TRUE(fp.f);
  idle(*fp.f, 0.2);
  ASSERT_TRUE(writeLine(fp.toChild, "close"));
  std::string line;
  ASSERT_TRUE(readLine(fp.toParent, &line));
  EXPECT_EQ(line, "closed");
  EXPECT_TRUE(fp.reap());  // gone entirely: its pid no longer exists
  idle(*fp.f, 1.5 * kDetect);
  EXPECT_TRUE(fp.f->status().isOk()) << fp.f->status().message();
  EXPECT_TRUE(fp.f->failedPeers().empty());
  // But a receive from it can never complete.
  std::vector<char> dst(64);
  Completion c;
  RecvSink sink;
  sink.dst = dst.data();
  fp.f->postRecv(1, dst.size(), sink, &c);
  ASSERT_TRUE(drive(*fp.f, {&c}, Deadline::after(5s)));
  EXPECT_EQ(c.status.code(), loomRemoteError);
  EXPECT_EQ(c.status.peer(), 1);
  EXPECT_NE(c.status.message().find("closed its communicator"), std::string::npos) << c.status.message();
  EXPECT_TRUE(fp.f->failedPeers().empty());
}

// An operation that gives up (timeout) cancels what it posted and may then free or reuse its
// completions and buffers; a peer failure seen later must touch none of them.
TEST_P(Faults, CancelledMessagesAreForgottenBeforeALaterFailure) {
  ForkedPair fp(GetParam(), ChildMode::Beat);
  ASSERT_TRUE(fp.f);
  auto dst = std::make_unique<std::vector<char>>(4096, 0);
  auto c = std::make_unique<Completion>();
  auto s = std::make_unique<Completion>();
  RecvSink sink;
  sink.dst = dst->data();
  fp.f->postRecv(1, dst->size(), sink, c.get());
  fp.f->postSend(1, dst->data(), dst->size(), s.get());
  fp.f->progress();
  fp.f->cancelPending(timeoutError("allreduce #3 timed out"));
  ASSERT_TRUE(c->done);
  EXPECT_EQ(c->status.code(), loomTimeout);
  EXPECT_EQ(fp.f->status().code(), loomTimeout);
  // As if freed and reused: any later completion through the fabric would show here.
  c->done = s->done = false;
  kill(fp.child, SIGKILL);
  waitpid(fp.child, nullptr, 0);
  fp.child = -1;
  for (auto t0 = Clock::now(); fp.f->failedPeers().empty() && secondsSince(t0) < 3 * kDetect;) {
    fp.f->checkPeers();
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(fp.f->failedPeers(), std::vector<int>{1});  // liveness goes on after the cancel
  EXPECT_EQ(fp.f->status().code(), loomTimeout);        // the first failure stays the reason
  EXPECT_FALSE(c->done) << "the peer's failure completed a cancelled receive again";
  EXPECT_FALSE(s->done) << "the peer's failure completed a cancelled send again";
}

// ---- Checksums ----

TEST_P(Faults, ChecksumCatchesAFlippedByte) {
  Group g = makeGroup(2, GetParam(), [](FabricConfig& c) { c.checksum = true; });
  ASSERT_EQ(g.f.size(), 2u);
  // Clean traffic passes: a multi-fragment copy and a reduce.
  const size_t bytes = (1 << 20) + 12;
  onEachRank(2, [&](int r) {
    std::vector<int32_t> out(bytes / 4), in(bytes / 4), operand(bytes / 4);
    for (size_t i = 0; i < out.size(); ++i) {
      out[i] = static_cast<int32_t>(i * 3 + r);
      operand[i] = static_cast<int32_t>(i);
    }
    Completion s, c, s2, c2;
    RecvSink copy, red;
    copy.dst = in.data();
    std::vector<int32_t> sum(bytes / 4);
    red.dst = sum.data();
    red.operand = operand.data();
    red.reduce = sumInt32;
    red.elemSize = 4;
    g.f[r]->postSend(1 - r, out.data(), bytes, &s);
    g.f[r]->postRecv(1 - r, bytes, copy, &c);
    g.f[r]->postSend(1 - r, out.data(), bytes, &s2);
    g.f[r]->postRecv(1 - r, bytes, red, &c2);
    ASSERT_TRUE(drive(*g.f[r], {&s, &c, &s2, &c2}, Deadline::after(10s)));
    ASSERT_TRUE(c.status.isOk()) << c.status.message();
    ASSERT_TRUE(c2.status.isOk()) << c2.status.message();
    for (size_t i = 0; i < in.size(); ++i) {
      ASSERT_EQ(in[i], static_cast<int32_t>(i * 3 + 1 - r));
      ASSERT_EQ(sum[i], static_cast<int32_t>(i * 3 + 1 - r + i));
    }
  });
  // One flipped byte on the way from rank 0 to rank 1.
  testhooks::corruptNextFragment();
  std::vector<uint8_t> out(100000, 0x11), in(100000);
  Completion s, c;
  RecvSink sink;
  sink.dst = in.data();
  onEachRank(2, [&](int r) {
    if (r == 0) {
      g.f[0]->postSend(1, out.data(), out.size(), &s);
      drive(*g.f[0], {&s}, Deadline::after(10s));
    } else {
      g.f[1]->postRecv(0, in.size(), sink, &c);
      drive(*g.f[1], {&c}, Deadline::after(10s));
    }
  });
  ASSERT_TRUE(c.done);
  EXPECT_EQ(c.status.code(), loomRemoteError);
  EXPECT_EQ(c.status.peer(), 0);
  EXPECT_NE(c.status.message().find("checksum mismatch from rank 0"), std::string::npos) << c.status.message();
  EXPECT_TRUE(g.f[1]->failedPeers().empty());  // corrupt, not dead
}

INSTANTIATE_TEST_SUITE_P(Transports, Faults, ::testing::Values(Kind::Tcp, Kind::Shm),
                         [](const auto& info) { return std::string(info.param == Kind::Tcp ? "tcp" : "shm"); });

}  // namespace

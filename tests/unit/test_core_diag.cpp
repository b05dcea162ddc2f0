// The diagnostics port and the timeout report: answers carry the progress board, strangers get
// nothing, a rank that accepts but never answers (stopped) is Silent, a closed port is Gone,
// and the report names suspects.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "core/diag_service.hpp"
#include "os/net.hpp"

using namespace loom;
using namespace loom::core;

namespace {

bootstrap::Secret secretOf(uint8_t v) {
  bootstrap::Secret s{};
  s.fill(v);
  return s;
}

ControlAddress listenOnly(os::UniqueFd* keep) {
  auto a = os::SockAddr::parse("127.0.0.1", 0);
  os::SockAddr bound;
  auto fd = os::listenTcp(a.value(), &bound, 8);
  EXPECT_TRUE(fd.isOk());
  *keep = std::move(fd.value());
  return {bound.host(), bound.port()};
}

TEST(DiagService, AnswersWithTheBoardAndClassifiesTheOthers) {
  setenv("LOOM_SOCKET_IFNAME", "lo", 1);
  auto board = std::make_shared<ProgressBoard>();
  board->issued(7);
  board->finished(6);
  board->started(7);
  board->waiting(7, "allreduce #7 (64 bytes, ring)", "recv from rank 3 (64 bytes, step 2)");
  auto svc = DiagService::start(secretOf(1), 42, 0, board);
  ASSERT_TRUE(svc.isOk()) << svc.status().message();

  os::UniqueFd mute;  // accepts (the kernel does) but never answers: a stopped process
  ControlAddress muteAddr = listenOnly(&mute);
  os::UniqueFd closed;
  ControlAddress closedAddr = listenOnly(&closed);
  closed.reset();  // nothing listens there any more

  std::vector<ControlAddress> addrs = {svc.value()->address(), {}, muteAddr, closedAddr};
  auto t0 = Clock::now();
  auto answers = askPeers(addrs, 1, secretOf(1), 42, 8, Deadline::afterSeconds(0.5), {});
  double took = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_GE(took, 0.45);
  EXPECT_LT(took, 2.0);
  ASSERT_EQ(answers.size(), 4u);
  EXPECT_EQ(answers[0].kind, PeerAnswer::Kind::Answered) << answers[0].detail;
  EXPECT_EQ(answers[0].snap.issued, 7u);
  EXPECT_EQ(answers[0].snap.running, 7u);
  EXPECT_EQ(answers[0].snap.finished, 6u);
  EXPECT_EQ(answers[0].snap.runningWhat, "allreduce #7 (64 bytes, ring)");
  EXPECT_EQ(answers[0].snap.waitingOn, "recv from rank 3 (64 bytes, step 2)");
  EXPECT_EQ(answers[1].kind, PeerAnswer::Kind::Bad);  // ourselves
  EXPECT_EQ(answers[2].kind, PeerAnswer::Kind::Silent);
  EXPECT_EQ(answers[3].kind, PeerAnswer::Kind::Gone) << answers[3].detail;

  std::string report = describeHang(8, 0.5, answers);
  EXPECT_EQ(report,
            "; never reached #8: rank 0 (still in allreduce #7 (64 bytes, ring) for 0.0 s, waiting on: recv from "
            "rank 3 (64 bytes, step 2)); no answer within 0.5 s (stopped, hung or unreachable): rank 2; gone: rank 3 "
            "(nothing listens any more: it has left); suspect ranks 0, 2")
      << report;

  // Strangers and other jobs get no answer: the connection is closed on them.
  for (auto secret : {secretOf(2), secretOf(1)}) {
    uint64_t comm = secret == secretOf(1) ? 43 : 42;  // right secret, other communicator
    auto wrong = askPeers({svc.value()->address()}, -1, secret, comm, 8, Deadline::afterSeconds(2), {});
    EXPECT_EQ(wrong[0].kind, PeerAnswer::Kind::Gone) << wrong[0].detail;
  }
  // Garbage and a truncated query: dropped, and the service still answers afterwards.
  for (size_t len : {size_t{5}, sizeof(diagwire::Query)}) {
    auto a = os::SockAddr::parse(svc.value()->address().host, svc.value()->address().port);
    bool pending = false;
    auto fd = os::connectTcp(a.value(), &pending);
    ASSERT_TRUE(fd.isOk());
    std::vector<char> junk(len, 'x');
    ASSERT_TRUE(os::writeAll(fd.value().get(), junk.data(), junk.size(), 2000).isOk());
    char c;
    Status st = os::readAll(fd.value().get(), &c, 1, 2000);
    EXPECT_EQ(st.code(), loomRemoteError) << st.message();  // closed without a byte
  }
  auto again = askPeers({svc.value()->address()}, -1, secretOf(1), 42, 8, Deadline::afterSeconds(2), {});
  EXPECT_EQ(again[0].kind, PeerAnswer::Kind::Answered);
  unsetenv("LOOM_SOCKET_IFNAME");
}

TEST(DiagService, CancelEndsTheWaitEarly) {
  os::UniqueFd mute;
  ControlAddress muteAddr = listenOnly(&mute);
  auto t0 = Clock::now();
  auto answers = askPeers({muteAddr}, -1, secretOf(1), 1, 1, Deadline::afterSeconds(10),
                          [&] { return Clock::now() - t0 > std::chrono::milliseconds(100); });
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 1.0);
  EXPECT_EQ(answers[0].kind, PeerAnswer::Kind::Silent);
}

TEST(ProgressBoard, TextOnlyForTheOperationThatIsStuck) {
  ProgressBoard b;
  b.issued(3);
  b.started(2);
  b.waiting(2, "broadcast #2", "recv from rank 0 (8 bytes, step 0)");
  EXPECT_EQ(b.snapshot().runningWhat, "broadcast #2");
  b.finished(2);
  b.started(3);  // not stuck yet: #2's text must not show as #3's
  auto s = b.snapshot();
  EXPECT_EQ(s.running, 3u);
  EXPECT_EQ(s.finished, 2u);
  EXPECT_EQ(s.issued, 3u);
  EXPECT_EQ(s.runningWhat, "");
  EXPECT_EQ(s.waitingOn, "");
  PeerAnswer a;
  a.rank = 4;
  a.kind = PeerAnswer::Kind::Answered;
  a.snap = s;
  EXPECT_EQ(describeHang(4, 1, {a}), "; never reached #4: rank 4 (still in #3 for 0.0 s); suspect rank 4");
  b.waitingSince(Clock::now() - std::chrono::seconds(2));  // its running time counts from its first wait
  EXPECT_GE(b.snapshot().runningSeconds, 2.0);
  EXPECT_LT(b.snapshot().runningSeconds, 60.0);
}

TEST(DescribeHang, EveryoneThereAndMalformedReplies) {
  PeerAnswer a;
  a.rank = 1;
  a.kind = PeerAnswer::Kind::Answered;
  a.snap.issued = 5;
  a.snap.running = 5;
  a.snap.runningWhat = "broadcast #5";
  EXPECT_EQ(describeHang(5, 1, {a}), "; every other rank reached it");
  a.snap.waitingOn = "send to rank 0 (8 bytes, step 0)";
  EXPECT_EQ(describeHang(5, 1, {a}), "; rank 1 in broadcast #5 waits on: send to rank 0 (8 bytes, step 0)");
  EXPECT_FALSE(snapshotFromJson("{").isOk());
  auto bad = snapshotFromJson(R"({"issued": "x"})");
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("'issued'"), std::string::npos) << bad.status().message();
  // Numbers no call number can be (found by fuzz_topo_tuning: 1e97 was cast, undefined behaviour).
  for (const char* text : {R"({"issued": 1e97, "running": 1, "what": "", "seconds": 0, "waiting_on": "", "finished": 0})",
                           R"({"issued": 1, "running": -3, "what": "", "seconds": 0, "waiting_on": "", "finished": 0})",
                           R"({"issued": 1, "running": 1, "what": "", "seconds": 0, "waiting_on": "", "finished": 2.5})"}) {
    auto wrong = snapshotFromJson(text);
    ASSERT_FALSE(wrong.isOk()) << text;
    EXPECT_NE(wrong.status().message().find("non-negative integer"), std::string::npos) << wrong.status().message();
  }
  auto ok = snapshotFromJson(snapshotToJson(3, a.snap));
  ASSERT_TRUE(ok.isOk());
  EXPECT_EQ(ok->waitingOn, a.snap.waitingOn);
}

}  // namespace

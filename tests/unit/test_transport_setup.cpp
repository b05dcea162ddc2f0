// Connection set-up and failures: strangers at the TCP listener, connect timeouts, peers that
// exit (shm: a forked child; tcp: a closed fabric), IPv6, and /dev/shm cleanup.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <poll.h>

#include <sstream>

#include "os/net.hpp"
#include "test_transport_util.hpp"
#include "transport/wire.hpp"

using namespace loom;
using namespace loom::transport;
using namespace loom::transport::testing;

namespace {

// The TCP listen address inside an address blob ("loomfab1 host pid ns shm addr port").
os::SockAddr listenAddrOf(const std::string& blob) {
  std::istringstream in(blob);
  std::string tag, host, pid, ns, shm, addr;
  unsigned port = 0;
  in >> tag >> host >> pid >> ns >> shm >> addr >> port;
  auto a = os::SockAddr::parse(addr, static_cast<uint16_t>(port));
  EXPECT_TRUE(a.isOk()) << blob;
  return a.isOk() ? a.value() : os::SockAddr{};
}

int rawConnect(const os::SockAddr& a) {
  int fd = socket(a.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  EXPECT_EQ(connect(fd, a.get(), a.len), 0);
  return fd;
}

// Exchanges one message each way between ranks 0 and 1 of g.
void pingPong(Group& g, size_t bytes) {
  onEachRank(2, [&](int r) {
    std::vector<uint8_t> out(bytes), in(bytes);
    for (size_t i = 0; i < bytes; ++i) out[i] = pattern(r, 1 - r, 0, i);
    Completion s, rc;
    g.f[r]->postSend(1 - r, out.data(), bytes, &s);
    RecvSink sink;
    sink.dst = in.data();
    g.f[r]->postRecv(1 - r, bytes, sink, &rc);
    ASSERT_TRUE(drive(*g.f[r], {&s, &rc}, Deadline::after(std::chrono::seconds(10))));
    ASSERT_TRUE(rc.status.isOk()) << rc.status.message();
    for (size_t i = 0; i < bytes; ++i) ASSERT_EQ(in[i], pattern(1 - r, r, 0, i));
  });
}

TEST(TransportSetup, StrangersAreRefusedAndRealPeersConnect) {
  uint64_t id = freshCommId();
  std::vector<std::unique_ptr<Fabric>> f;
  std::vector<std::string> addrs;
  for (int r = 0; r < 3; ++r) {
    auto x = Fabric::create(baseConfig(r, 3, Kind::Tcp, id));
    ASSERT_TRUE(x.isOk()) << x.status().message();
    addrs.push_back((*x)->address());
    f.push_back(std::move(x.value()));
  }
  os::SockAddr target = listenAddrOf(addrs[0]);  // rank 0 accepts from ranks 1 and 2
  // Before the real set-up runs: garbage, a short frame, a wrong secret, a wrong communicator.
  int garbage = rawConnect(target);
  std::string junk(200, 'x');
  ASSERT_EQ(send(garbage, junk.data(), junk.size(), MSG_NOSIGNAL), 200);
  int shortFrame = rawConnect(target);
  ASSERT_EQ(send(shortFrame, "LMH", 3, MSG_NOSIGNAL), 3);
  int badSecret = rawConnect(target);
  wire::Hello h{};
  h.magic = wire::kHelloMagic;
  h.version = wire::kVersion;
  h.rank = 1;
  h.nranks = 3;
  h.nsocks = 2;
  h.commId = id;
  std::memset(h.secret, 0x11, sizeof h.secret);
  ASSERT_EQ(send(badSecret, &h, sizeof h, MSG_NOSIGNAL), static_cast<ssize_t>(sizeof h));
  int badComm = rawConnect(target);
  auto good = baseConfig(1, 3, Kind::Tcp, id);
  std::memcpy(h.secret, good.secret, sizeof h.secret);
  h.commId = id + 1;
  ASSERT_EQ(send(badComm, &h, sizeof h, MSG_NOSIGNAL), static_cast<ssize_t>(sizeof h));

  std::vector<Status> st(3);
  onEachRank(3, [&](int r) { st[r] = f[r]->connect(addrs, Deadline::after(std::chrono::seconds(10))); });
  for (int r = 0; r < 3; ++r) ASSERT_TRUE(st[r].isOk()) << st[r].message();
  // The refused connections were closed (recv sees EOF, or a reset) without an answer.
  for (int fd : {garbage, badSecret, badComm}) {
    char b[64];
    EXPECT_LE(recv(fd, b, sizeof b, 0), 0);
    close(fd);
  }
  close(shortFrame);
  Group g;
  g.f.push_back(std::move(f[0]));
  g.f.push_back(std::move(f[1]));
  pingPong(g, 100000);
}

TEST(TransportSetup, ConnectTimeoutNamesMissingRanks) {
  uint64_t id = freshCommId();
  std::vector<std::unique_ptr<Fabric>> f;
  std::vector<std::string> addrs;
  for (int r = 0; r < 3; ++r) {
    auto x = Fabric::create(baseConfig(r, 3, Kind::Tcp, id));
    ASSERT_TRUE(x.isOk());
    addrs.push_back((*x)->address());
    f.push_back(std::move(x.value()));
  }
  // Ranks 0 and 1 connect; rank 2 never shows up.
  std::vector<Status> st(2);
  onEachRank(2, [&](int r) { st[r] = f[r]->connect(addrs, Deadline::after(std::chrono::milliseconds(700))); });
  EXPECT_EQ(st[0].code(), loomTimeout);
  EXPECT_NE(st[0].message().find("rank(s) 2 never connected"), std::string::npos) << st[0].message();
  EXPECT_EQ(st[1].code(), loomTimeout);
  EXPECT_NE(st[1].message().find("2"), std::string::npos) << st[1].message();
}

TEST(TransportSetup, TcpPeerClosingFailsPendingReceive) {
  Group g = makeGroup(2, Kind::Tcp);
  ASSERT_EQ(g.f.size(), 2u);
  pingPong(g, 10);
  g.f[1].reset();
  std::vector<char> dst(16);
  Completion c;
  RecvSink sink;
  sink.dst = dst.data();
  g.f[0]->postRecv(1, 16, sink, &c);
  ASSERT_TRUE(drive(*g.f[0], {&c}, Deadline::after(std::chrono::seconds(5))));
  EXPECT_EQ(c.status.code(), loomRemoteError);
  EXPECT_EQ(c.status.peer(), 1);
  EXPECT_NE(c.status.message().find("rank 1"), std::string::npos) << c.status.message();
}

TEST(TransportSetup, ShmPeerExitIsDetected) {
  uint64_t id = freshCommId();
  int toChild[2], toParent[2];
  ASSERT_EQ(pipe(toChild), 0);
  ASSERT_EQ(pipe(toParent), 0);
  auto readLine = [](int fd, std::string* out) {
    char ch;
    out->clear();
    pollfd p{fd, POLLIN, 0};
    while (poll(&p, 1, 10000) == 1 && read(fd, &ch, 1) == 1) {
      if (ch == '\n') return true;
      *out += ch;
    }
    return false;
  };
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Rank 1: set up, wait until the parent has mapped our segment, then die abruptly.
    auto f = Fabric::create(baseConfig(1, 2, Kind::Shm, id));
    if (!f.isOk()) _exit(2);
    std::string mine = (*f)->address() + "\n", theirs;
    if (write(toParent[1], mine.data(), mine.size()) != static_cast<ssize_t>(mine.size())) _exit(3);
    if (!readLine(toChild[0], &theirs)) _exit(4);
    Status cs = (*f)->connect({theirs, (*f)->address()}, Deadline::after(std::chrono::seconds(10)));
    if (!cs.isOk()) {
      std::fprintf(stderr, "child connect: %s\n", cs.message().c_str());
      _exit(5);
    }
    if (write(toParent[1], "ok\n", 3) != 3) _exit(6);
    std::string ready;  // a barrier: both have mapped each other's segment
    if (!readLine(toChild[0], &ready)) _exit(7);
    (*f)->finishSetup();
    _exit(0);
  }
  auto f = Fabric::create(baseConfig(0, 2, Kind::Shm, id));
  ASSERT_TRUE(f.isOk());
  std::string childAddr;
  ASSERT_TRUE(readLine(toParent[0], &childAddr));
  std::string mine = (*f)->address() + "\n";
  ASSERT_EQ(write(toChild[1], mine.data(), mine.size()), static_cast<ssize_t>(mine.size()));
  Status st = (*f)->connect({(*f)->address(), childAddr}, Deadline::after(std::chrono::seconds(10)));
  ASSERT_TRUE(st.isOk()) << st.message();
  ASSERT_EQ(write(toChild[1], "go\n", 3), 3);
  std::string ok;
  ASSERT_TRUE(readLine(toParent[0], &ok));
  (*f)->finishSetup();
  std::vector<char> dst(4096);
  Completion c;
  RecvSink sink;
  sink.dst = dst.data();
  (*f)->postRecv(1, dst.size(), sink, &c);
  auto start = std::chrono::steady_clock::now();
  bool done = drive(**f, {&c}, Deadline::after(std::chrono::seconds(10)));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  int status = 0;
  if (!done) kill(child, SIGKILL);
  waitpid(child, &status, 0);
  ASSERT_TRUE(done);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(c.status.code(), loomRemoteError);
  EXPECT_EQ(c.status.peer(), 1);
  EXPECT_NE(c.status.message().find("rank 1 (host test-host, pid " + std::to_string(child) + ") failed: process exited"),
            std::string::npos)
      << c.status.message();
  EXPECT_LT(ms, 3000);
  for (int fd : {toChild[0], toChild[1], toParent[0], toParent[1]}) close(fd);
  f.value().reset();
  EXPECT_TRUE(shmLeftovers(id).empty());
}

TEST(TransportSetup, Ipv6Loopback) {
  if (!os::selectInterface("lo", "AF_INET6").isOk()) GTEST_SKIP() << "no IPv6 on lo";
  Group g = makeGroup(2, Kind::Tcp, [](FabricConfig& c) { c.family = "AF_INET6"; });
  ASSERT_EQ(g.f.size(), 2u);
  EXPECT_NE(g.addrs[0].find("::1"), std::string::npos) << g.addrs[0];
  pingPong(g, (1 << 20) + 5);
}

TEST(TransportSetup, NoShmNamesRemain) {
  uint64_t id;
  {
    Group g = makeGroup(4, Kind::Auto);
    id = g.commId;
    ASSERT_EQ(g.f.size(), 4u);
    EXPECT_TRUE(shmLeftovers(id).empty());  // unlinked by finishSetup already
  }
  // A fabric destroyed before finishSetup unlinks its name in the destructor.
  id = freshCommId();
  {
    auto f = Fabric::create(baseConfig(0, 2, Kind::Auto, id));
    ASSERT_TRUE(f.isOk());
    EXPECT_EQ(shmLeftovers(id).size(), 1u);
  }
  EXPECT_TRUE(shmLeftovers(id).empty());
  // Forced tcp creates no segment at all.
  id = freshCommId();
  auto f = Fabric::create(baseConfig(0, 2, Kind::Tcp, id));
  ASSERT_TRUE(f.isOk());
  EXPECT_TRUE(shmLeftovers(id).empty());
}

TEST(TransportSetup, ManyRanksOnFewCoresStillProgress) {
  // 8 shm ranks on (probably) 2 cores: a ring exchange of several fragments per message.
  const int n = 8;
  Group g = makeGroup(n, Kind::Auto);
  ASSERT_EQ(g.f.size(), static_cast<size_t>(n));
  const size_t bytes = (256 << 10) + 8;
  onEachRank(n, [&](int r) {
    std::vector<uint8_t> out(bytes), in(bytes);
    for (int round = 0; round < 5; ++round) {
      for (size_t i = 0; i < bytes; ++i) out[i] = pattern(r, round, 1, i);
      Completion s, c;
      RecvSink sink;
      sink.dst = in.data();
      g.f[r]->postSend((r + 1) % n, out.data(), bytes, &s);
      g.f[r]->postRecv((r + n - 1) % n, bytes, sink, &c);
      ASSERT_TRUE(drive(*g.f[r], {&s, &c}, Deadline::after(std::chrono::seconds(20))));
      ASSERT_TRUE(c.status.isOk()) << c.status.message();
      for (size_t i = 0; i < bytes; ++i) ASSERT_EQ(in[i], pattern((r + n - 1) % n, round, 1, i));
    }
  });
}

}  // namespace

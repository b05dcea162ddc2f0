// The thin POSIX wrappers: interface matching (NCCL syntax), numeric addresses, interface
// selection, shm segments, futex wake-up and process liveness.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "os/epoll.hpp"
#include "os/futex.hpp"
#include "os/net.hpp"
#include "os/process.hpp"
#include "os/shm.hpp"

using namespace loom;
using namespace loom::os;

TEST(OsNet, InterfaceMatchesNcclSyntax) {
  EXPECT_TRUE(interfaceMatches("", "eth0"));
  EXPECT_TRUE(interfaceMatches("eth", "eth0"));
  EXPECT_TRUE(interfaceMatches("ib,eth", "eth1"));
  EXPECT_FALSE(interfaceMatches("ib,eth", "lo"));
  EXPECT_FALSE(interfaceMatches("^docker,lo", "docker0"));
  EXPECT_FALSE(interfaceMatches("^docker,lo", "lo"));
  EXPECT_TRUE(interfaceMatches("^docker,lo", "eth0"));
  EXPECT_TRUE(interfaceMatches("=eth0", "eth0"));
  EXPECT_FALSE(interfaceMatches("=eth0", "eth01"));
  EXPECT_FALSE(interfaceMatches("^=eth0", "eth0"));
  EXPECT_TRUE(interfaceMatches("^=eth0", "eth01"));
  // From the bootstrap's former copy: NCCL's "ifname:port" items match on the name alone.
  EXPECT_FALSE(interfaceMatches("ib", "eth0"));
  EXPECT_TRUE(interfaceMatches("eth0:1234", "eth0"));
  EXPECT_TRUE(interfaceMatches("=eth0:1234", "eth0"));
  EXPECT_FALSE(interfaceMatches("=eth0:1234", "eth01"));
  EXPECT_FALSE(interfaceMatches("^eth0:1234", "eth0"));
  // The default selection's exclusions.
  EXPECT_FALSE(interfaceMatches(kDefaultIfnameExclude, "docker0"));
  EXPECT_FALSE(interfaceMatches(kDefaultIfnameExclude, "veth12ab"));
  EXPECT_FALSE(interfaceMatches(kDefaultIfnameExclude, "virbr0"));
  EXPECT_TRUE(interfaceMatches(kDefaultIfnameExclude, "eth0"));
}

TEST(OsNet, ParsesNumericAddresses) {
  auto a = SockAddr::parse("127.0.0.1", 80);
  ASSERT_TRUE(a.isOk());
  EXPECT_EQ(a->family(), AF_INET);
  EXPECT_EQ(a->toString(), "127.0.0.1:80");
  auto b = SockAddr::parse("[::1]", 9);
  ASSERT_TRUE(b.isOk());
  EXPECT_EQ(b->family(), AF_INET6);
  EXPECT_EQ(b->toString(), "[::1]:9");
  EXPECT_EQ(SockAddr::parse("localhost", 1).status().code(), loomInvalidArgument);
  EXPECT_EQ(SockAddr::parse("1.2.3", 1).status().code(), loomInvalidArgument);
}

TEST(OsNet, SelectsInterfaces) {
  auto lo = selectInterface("lo", "AF_INET");
  ASSERT_TRUE(lo.isOk()) << lo.status().message();
  EXPECT_EQ(lo->addr.host(), "127.0.0.1");
  EXPECT_TRUE(lo->loopback);
  auto any = selectInterface("", "");
  ASSERT_TRUE(any.isOk());
  bool haveOther = false;  // a candidate of the default choice
  for (auto& i : listInterfaces()) {
    bool linkLocal = i.addr.family() == AF_INET6 &&
                     IN6_IS_ADDR_LINKLOCAL(&reinterpret_cast<const sockaddr_in6*>(&i.addr.storage)->sin6_addr);
    haveOther |= !i.loopback && !linkLocal && interfaceMatches(kDefaultIfnameExclude, i.name);
  }
  EXPECT_EQ(any->loopback, !haveOther);
  EXPECT_TRUE(interfaceMatches(kDefaultIfnameExclude, any->name)) << any->name;
  if (haveOther) {
    bool haveV4 = false;
    for (auto& i : listInterfaces()) haveV4 |= !i.loopback && i.addr.family() == AF_INET &&
                                               interfaceMatches(kDefaultIfnameExclude, i.name);
    if (haveV4) {
      EXPECT_EQ(any->addr.family(), AF_INET);  // IPv4 first when no family is forced
    }
  }
  auto v6 = selectInterface("lo", "ipv6");  // the bootstrap's spelling of the family works too
  if (v6) {
    EXPECT_EQ(v6->addr.family(), AF_INET6);
  }
  EXPECT_EQ(selectInterface("=no-such-if", "").status().code(), loomInvalidArgument);
  EXPECT_EQ(selectInterface("", "AF_BOGUS").status().code(), loomInvalidArgument);
}

// A listener on lo's IPv4 address, any port (`bound` gets it).
static Result<UniqueFd> listenOnLoopback(SockAddr* bound) {
  auto lo = selectInterface("lo", "AF_INET");
  if (!lo.isOk()) return lo.takeStatus();
  return listenTcp(lo->addr, bound);
}

// The connection a nonblocking listener has pending, waiting up to a second for it (invalid: none).
static UniqueFd acceptWithinASecond(int listener) {
  for (int i = 0; i < 500; ++i) {
    const int s = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (s >= 0) return UniqueFd(s);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return UniqueFd();
}

TEST(OsNet, ListenConnectAndTransfer) {
  SockAddr bound;
  auto l = listenOnLoopback(&bound);
  ASSERT_TRUE(l.isOk()) << l.status().message();
  EXPECT_NE(bound.port(), 0);
  bool inProgress = false;
  auto c = connectTcp(bound, &inProgress, 1 << 20);
  ASSERT_TRUE(c.isOk());
  UniqueFd server = acceptWithinASecond(l->get());
  ASSERT_TRUE(server.valid());
  std::string msg(100000, 'q');
  std::string got(msg.size(), 0);
  std::thread w([&] { EXPECT_TRUE(writeAll(c->get(), msg.data(), msg.size(), 5000).isOk()); });
  EXPECT_TRUE(readAll(server.get(), got.data(), got.size(), 5000).isOk());
  w.join();
  EXPECT_EQ(got, msg);
  char x;
  EXPECT_EQ(readAll(server.get(), &x, 1, 50).code(), loomTimeout);
  c->reset();
  EXPECT_EQ(readAll(server.get(), &x, 1, 1000).code(), loomRemoteError);
}

// LOOM_TCP_CONGESTION: the algorithm is chosen before the handshake, on the connecting socket and
// on the listener, whose accepted sockets inherit it (switched after the handshake, BBR's pacing
// stayed on).
TEST(OsNet, CongestionControlIsChosenBeforeConnecting) {
  SockAddr bound;
  auto l = listenOnLoopback(&bound);
  ASSERT_TRUE(l.isOk()) << l.status().message();
  if (!setCongestionControl(l->get(), "cubic")) GTEST_SKIP() << "cubic is not allowed here";
  bool inProgress = false;
  auto c = connectTcp(bound, &inProgress, 0, "reno");
  ASSERT_TRUE(c.isOk());
  UniqueFd server = acceptWithinASecond(l->get());
  ASSERT_TRUE(server.valid());
  EXPECT_EQ(congestionControl(server.get()), "cubic");
  EXPECT_EQ(congestionControl(c->get()), "reno");
  EXPECT_FALSE(setCongestionControl(c->get(), "no-such-algorithm"));
  EXPECT_FALSE(defaultCongestionControl().empty());
}

TEST(OsNet, LocalAddresses) {
  auto loopback = SockAddr::parse("127.0.0.1", 0);
  ASSERT_TRUE(loopback.isOk());
  const std::vector<Interface> interfaces = listInterfaces();
  EXPECT_TRUE(isLocalAddress(*loopback, interfaces));
  for (const Interface& itf : interfaces) EXPECT_TRUE(isLocalAddress(itf.addr, interfaces)) << itf.name;
  auto elsewhere = SockAddr::parse("203.0.113.7", 0);  // TEST-NET-3: no machine's own address
  ASSERT_TRUE(elsewhere.isOk());
  EXPECT_FALSE(isLocalAddress(*elsewhere, interfaces));
  EXPECT_TRUE(isLocalAddress(*loopback, {})) << "loopback needs no interface list";
}

// LOOM_TCP_BUFFER_BYTES=0 keeps the kernel's own buffers (which it autotunes): setting 0 would
// pin them to the kernel's minimum of a few KiB.
TEST(OsNet, BufferSizeZeroKeepsTheKernelDefault) {
  auto sndbuf = [](int fd) {
    int v = 0;
    socklen_t len = sizeof v;
    EXPECT_EQ(getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, &len), 0);
    return v;
  };
  UniqueFd fd(socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_TRUE(fd.valid());
  const int before = sndbuf(fd.get());
  os::setBufferSizes(fd.get(), 0);
  EXPECT_EQ(sndbuf(fd.get()), before);
  os::setBufferSizes(fd.get(), 256 << 10);
  EXPECT_GE(sndbuf(fd.get()), 256 << 10) << "the kernel doubles the value it is given";
}

TEST(OsShm, CreateOpenUnlink) {
  std::string name = "/loom-ostest-" + std::to_string(getpid());
  auto a = ShmSegment::create(name, 1 << 20);
  ASSERT_TRUE(a.isOk()) << a.status().message();
  EXPECT_EQ(ShmSegment::create(name, 4096).status().code(), loomSystemError);  // exclusive
  auto b = ShmSegment::open(name, 0);
  ASSERT_TRUE(b.isOk());
  EXPECT_EQ(b->size(), 1u << 20);
  std::memcpy(a->data(), "hello", 6);
  EXPECT_STREQ(static_cast<char*>(b->data()), "hello");
  EXPECT_FALSE(ShmSegment::open(name, 2 << 20).isOk());
  a->unlink();
  EXPECT_FALSE(ShmSegment::open(name, 0).isOk());
  EXPECT_STREQ(static_cast<char*>(b->data()), "hello");  // mappings outlive the name
}

TEST(OsFutex, WakesAWaiterAndTimesOut) {
  std::atomic<uint32_t> word{0};
  auto start = std::chrono::steady_clock::now();
  futexWait(&word, 0, 30);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(25));
  std::thread t([&] {
    while (word.load() == 0) futexWait(&word, 0, 5000);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  start = std::chrono::steady_clock::now();
  word.store(1);
  futexWake(&word);
  t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST(OsEpoll, WakeInterruptsWait) {
  auto ep = Epoll::create();
  ASSERT_TRUE(ep.isOk());
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ep->wake();
  });
  epoll_event ev[4];
  auto start = std::chrono::steady_clock::now();
  int n = ep->wait(ev, 4, 5000);
  t.join();
  EXPECT_EQ(n, 1);
  EXPECT_EQ(ev[0].data.u64, Epoll::kWakeTag);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(ep->wait(ev, 4, 0), 0);  // consumed
}

TEST(OsProcess, Liveness) {
  EXPECT_TRUE(processAlive(getpid()));
  EXPECT_NE(pidNamespaceId(), 0u);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  // A zombie counts as dead.
  bool dead = false;
  for (int i = 0; i < 500 && !dead; ++i) {
    dead = !processAlive(child);
    if (!dead) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_TRUE(dead);
  waitpid(child, nullptr, 0);
  EXPECT_FALSE(processAlive(child));
}

// The rendezvous root and its clients, with ranks as threads of this process.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "bootstrap/bootstrap.hpp"
#include "bootstrap/root_server.hpp"
#include "bootstrap/wire.hpp"

using namespace loom;
using namespace loom::bootstrap;
using namespace std::chrono_literals;

namespace {

// The blob rank r contributes in round k: sizes vary from empty to 1 MiB.
std::string blobFor(int round, int rank) {
  size_t size = (round == 2 && rank == 1) ? (1u << 20) : static_cast<size_t>((round * 7919 + rank * 131) % 3000);
  if (round == 1 && rank == 0) size = 0;
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 31 + static_cast<size_t>(rank) * 7 + round) & 0xFF);
  return s;
}

struct Outcome {
  Status status;
  double seconds = 0;
};

int rawConnect(const RendezvousId& id) {
  auto addr = wire::resolve(id.host, id.port, AF_UNSPEC);
  if (!addr) return -1;
  int fd = ::socket(addr->family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (::connect(fd, addr->get(), addr->len) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

uint16_t freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Runs a full exchange for `nranks` threads: 4 rounds of varied blobs, then a barrier.
void exchange(const loomUniqueId& id, int nranks, std::vector<Status>* results) {
  results->assign(nranks, Status());
  std::vector<std::thread> threads;
  for (int r = 0; r < nranks; ++r)
    threads.emplace_back([&, r] {
      auto deadline = Deadline::after(20s);
      auto b = Bootstrap::join(id, r, nranks, deadline);
      if (!b) return void((*results)[r] = b.status());
      for (int round = 0; round < 4; ++round) {
        auto all = (*b)->allGather(blobFor(round, r), deadline);
        if (!all) return void((*results)[r] = all.status());
        if (all->size() != static_cast<size_t>(nranks))
          return void((*results)[r] = internalError("wrong number of blobs"));
        for (int q = 0; q < nranks; ++q)
          if ((*all)[q] != blobFor(round, q))
            return void((*results)[r] = internalError("round " + std::to_string(round) + " blob of rank " +
                                                      std::to_string(q) + " differs"));
      }
      (*results)[r] = (*b)->barrier(deadline);
    });
  for (auto& t : threads) t.join();
}

bool waitNoLiveRoots(std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (liveRootCount() > 0 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(10ms);
  return liveRootCount() == 0;
}

}  // namespace

TEST(BootstrapRoot, AllGatherRoundsAndBarrier) {
  for (int nranks : {1, 2, 5}) {
    auto id = createRoot();
    ASSERT_TRUE(id) << id.status().message();
    std::vector<Status> results;
    exchange(*id, nranks, &results);
    for (int r = 0; r < nranks; ++r) EXPECT_TRUE(results[r].isOk()) << "rank " << r << ": " << results[r].message();
  }
  // Every root ends on its own once all ranks have disconnected.
  EXPECT_TRUE(waitNoLiveRoots(3s));
}

TEST(BootstrapRoot, RootMayStartAfterTheClients) {
  uint16_t port = freePort();
  Secret secret{};
  secret[0] = 42;
  loomUniqueId id = encodeId({"127.0.0.1", port, secret});
  std::vector<Status> results;
  std::thread clients([&] { exchange(id, 3, &results); });
  std::this_thread::sleep_for(300ms);
  auto rootId = createRootAt("127.0.0.1", port, secret);
  ASSERT_TRUE(rootId) << rootId.status().message();
  clients.join();
  for (int r = 0; r < 3; ++r) EXPECT_TRUE(results[r].isOk()) << "rank " << r << ": " << results[r].message();
}

TEST(BootstrapRoot, WrongSecretIsRefusedWhileRealRanksSucceed) {
  auto id = createRoot();
  ASSERT_TRUE(id);
  auto decoded = decodeId(*id);
  RendezvousId forged = *decoded;
  forged.secret[3] ^= 1;
  Status intruder;
  std::thread bad([&] {
    auto b = Bootstrap::join(encodeId(forged), 0, 3, Deadline::after(700ms));
    intruder = b ? Status() : b.status();
  });
  std::vector<Status> results;
  exchange(*id, 3, &results);
  bad.join();
  for (int r = 0; r < 3; ++r) EXPECT_TRUE(results[r].isOk()) << "rank " << r << ": " << results[r].message();
  EXPECT_EQ(intruder.code(), loomRemoteError) << intruder.message();
  EXPECT_NE(intruder.message().find("wrong secret"), std::string::npos) << intruder.message();
}

TEST(BootstrapRoot, GarbageFromStrangersDoesNotDisturbAnExchange) {
  auto id = createRoot();
  ASSERT_TRUE(id);
  auto rid = *decodeId(*id);
  std::vector<int> fds;
  auto sendRaw = [&](const std::string& bytes) {
    int fd = rawConnect(rid);
    ASSERT_GE(fd, 0);
    if (!bytes.empty()) {
      ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), ssize_t(bytes.size()));
    }
    fds.push_back(fd);
  };
  auto header = [](uint32_t type, uint32_t len) {
    wire::Writer w;
    w.u32(type);
    w.u32(len);
    return w.out();
  };
  std::string noise(4096, '\0');
  for (size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<char>(i * 131 + 17);
  sendRaw(noise);                                     // garbage
  sendRaw(header(1, 0xFFFFFFF0u));                    // huge length
  sendRaw(header(3, 60u << 20) + "abc");              // big frame before any hello
  sendRaw(header(1, 100) + "truncated");              // truncated hello, kept open
  sendRaw(header(1, 5000) + std::string(5000, 'x'));  // hello over the stranger limit
  sendRaw("");                                        // silent connection
  {
    wire::Writer w;  // a well-formed hello with the wrong magic
    w.u32(0x12345678);
    w.u32(1);
    w.bytes(std::string(16, 'k'));
    w.i32(0);
    w.i32(2);
    w.i32(1);
    w.str("evil");
    sendRaw(wire::frame(wire::FrameType::Hello, w.out()));
  }
  std::vector<Status> results;
  std::thread more([&] {  // strangers keep arriving during the exchange
    for (int i = 0; i < 20; ++i) {
      int fd = rawConnect(rid);
      if (fd >= 0) {
        std::string h = header(static_cast<uint32_t>(i % 7), static_cast<uint32_t>(i * 977));
        ::send(fd, h.data(), h.size(), MSG_NOSIGNAL);
        ::close(fd);
      }
    }
  });
  exchange(*id, 4, &results);
  more.join();
  for (int r = 0; r < 4; ++r) EXPECT_TRUE(results[r].isOk()) << "rank " << r << ": " << results[r].message();
  for (int fd : fds) ::close(fd);
}

TEST(BootstrapRoot, DuplicateRankFailsEveryone) {
  auto id = createRoot();
  ASSERT_TRUE(id);
  const int nranks = 4;
  auto deadline = Deadline::after(10s);
  auto first = Bootstrap::join(*id, 3, nranks, deadline);
  ASSERT_TRUE(first) << first.status().message();
  auto second = Bootstrap::join(*id, 3, nranks, deadline);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.status().code(), loomInvalidUsage);
  EXPECT_NE(second.status().message().find("rank 3 claimed by two processes: pid"), std::string::npos)
      << second.status().message();
  std::vector<Status> results(nranks);
  std::vector<std::thread> threads;
  for (int r = 0; r < nranks; ++r)
    threads.emplace_back([&, r] {
      std::unique_ptr<Bootstrap> b;
      if (r == 3) b = std::move(*first);
      else {
        auto j = Bootstrap::join(*id, r, nranks, deadline);
        if (!j) return void(results[r] = j.status());
        b = std::move(*j);
      }
      auto all = b->allGather("x", deadline);
      results[r] = all ? Status() : all.status();
    });
  for (auto& t : threads) t.join();
  for (int r = 0; r < nranks; ++r) {
    EXPECT_EQ(results[r].code(), loomInvalidUsage) << "rank " << r << ": " << results[r].message();
    EXPECT_NE(results[r].message().find("rank 3 claimed by two processes"), std::string::npos) << results[r].message();
  }
}

TEST(BootstrapRoot, MissingRankTimesOutNamingIt) {
  auto id = createRoot();
  ASSERT_TRUE(id);
  const int nranks = 4;
  std::vector<Outcome> out(3);
  std::vector<std::thread> threads;
  auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < 3; ++r)
    threads.emplace_back([&, r] {
      auto deadline = Deadline::after(1500ms);
      auto b = Bootstrap::join(*id, r, nranks, deadline);
      if (b) {
        auto all = (*b)->allGather("blob", deadline);
        out[r].status = all ? Status() : all.status();
      } else {
        out[r].status = b.status();
      }
      out[r].seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    });
  for (auto& t : threads) t.join();
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(out[r].status.code(), loomTimeout) << out[r].status.message();
    EXPECT_NE(out[r].status.message().find("rank 3 never connected"), std::string::npos) << out[r].status.message();
    EXPECT_LT(out[r].seconds, 1.6);
    EXPECT_GT(out[r].seconds, 1.0);
  }
}

TEST(BootstrapRoot, SlowRankIsNamedForItsRound) {
  auto id = createRoot();
  ASSERT_TRUE(id);
  auto deadline = Deadline::after(10s);
  auto lazy = Bootstrap::join(*id, 1, 2, deadline);  // joins but never contributes
  ASSERT_TRUE(lazy);
  auto b = Bootstrap::join(*id, 0, 2, deadline);
  ASSERT_TRUE(b);
  auto all = (*b)->allGather("x", Deadline::after(600ms));
  ASSERT_FALSE(all);
  EXPECT_EQ(all.status().code(), loomTimeout);
  EXPECT_NE(all.status().message().find("rank 1 never reached round 0"), std::string::npos) << all.status().message();
}

TEST(BootstrapRoot, RootDeadlineFailsConnectedRanks) {
  ::setenv("LOOM_INIT_TIMEOUT", "0.5", 1);
  auto id = createRoot();
  ::unsetenv("LOOM_INIT_TIMEOUT");
  ASSERT_TRUE(id);
  auto t0 = std::chrono::steady_clock::now();
  auto b = Bootstrap::join(*id, 0, 3, Deadline::after(10s));
  ASSERT_TRUE(b);
  auto all = (*b)->allGather("x", Deadline::after(10s));
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_FALSE(all);
  EXPECT_EQ(all.status().code(), loomTimeout);
  EXPECT_NE(all.status().message().find("ranks 1-2 never connected"), std::string::npos) << all.status().message();
  EXPECT_LT(secs, 2.0);
}

TEST(BootstrapRoot, RankLeavingMidwayFailsTheOthers) {
  auto id = createRoot();
  ASSERT_TRUE(id);
  auto deadline = Deadline::after(10s);
  auto a = Bootstrap::join(*id, 0, 2, deadline);
  auto b = Bootstrap::join(*id, 1, 2, deadline);
  ASSERT_TRUE(a && b);
  std::thread leaver([&] {
    std::this_thread::sleep_for(100ms);
    b->reset();  // rank 1 exits without contributing
  });
  auto all = (*a)->allGather("x", deadline);
  leaver.join();
  ASSERT_FALSE(all);
  EXPECT_EQ(all.status().code(), loomRemoteError) << all.status().message();
  EXPECT_NE(all.status().message().find("rank 1"), std::string::npos) << all.status().message();
}

TEST(BootstrapRoot, NoRootGivesSystemErrorAfterRetries) {
  Secret secret{};
  auto id = encodeId({"127.0.0.1", freePort(), secret});
  auto t0 = std::chrono::steady_clock::now();
  auto b = Bootstrap::join(id, 0, 2, Deadline::after(400ms));
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_FALSE(b);
  EXPECT_EQ(b.status().code(), loomSystemError) << b.status().message();
  EXPECT_NE(b.status().message().find("could not connect"), std::string::npos);
  EXPECT_GT(secs, 0.3);
  EXPECT_LT(secs, 1.5);
}

TEST(BootstrapRoot, JoinValidatesArguments) {
  auto id = createRoot();
  ASSERT_TRUE(id);
  EXPECT_EQ(Bootstrap::join(*id, 2, 2, Deadline::after(1s)).status().code(), loomInvalidArgument);
  EXPECT_EQ(Bootstrap::join(*id, -1, 2, Deadline::after(1s)).status().code(), loomInvalidArgument);
  loomUniqueId junk{};
  EXPECT_EQ(Bootstrap::join(junk, 0, 2, Deadline::after(1s)).status().code(), loomInvalidArgument);
}

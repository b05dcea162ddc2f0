// Throughput probes (disabled by default; run with --gtest_also_run_disabled_tests):
// a 2-rank 64 MiB ping-pong over shm and tcp, next to a single-core memcpy.
#include <gtest/gtest.h>

#include <cstdio>

#include "test_transport_util.hpp"

using namespace loom;
using namespace loom::transport;
using namespace loom::transport::testing;

namespace {

double seconds(std::chrono::steady_clock::time_point a) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
}

void pingPong(Kind force, const char* name, size_t slotBytes, int slots) {
  Group g = makeGroup(2, force, [&](FabricConfig& c) {
    c.shmSlotBytes = slotBytes;
    c.shmSlots = slots;
    c.tcpBufferBytes = 4 << 20;
    c.spinUs = 50;  // the default
  });
  ASSERT_EQ(g.f.size(), 2u);
  const size_t bytes = 64 << 20;
  const int iters = 10;
  double elapsed = 0;
  onEachRank(2, [&](int r) {
    std::vector<char> a(bytes, static_cast<char>(r)), b(bytes, 0);
    Fabric& f = *g.f[r];
    auto start = std::chrono::steady_clock::now();
    for (int i = -1; i < iters; ++i) {  // i == -1: warm-up
      if (i == 0) start = std::chrono::steady_clock::now();
      Completion s, c;
      RecvSink sink;
      sink.dst = b.data();
      if (r == 0) {
        f.postSend(1, a.data(), bytes, &s);
        f.postRecv(1, bytes, sink, &c);
      } else {
        f.postRecv(0, bytes, sink, &c);
        ASSERT_TRUE(drive(f, {&c}, Deadline::after(std::chrono::seconds(30))));
        f.postSend(0, a.data(), bytes, &s);
      }
      ASSERT_TRUE(drive(f, {&s, &c}, Deadline::after(std::chrono::seconds(30))));
      ASSERT_TRUE(c.status.isOk());
    }
    if (r == 0) elapsed = seconds(start);
  });
  double gbps = 2.0 * iters * bytes / elapsed / 1e9;
  std::printf("%s ping-pong 64 MiB: %.2f GB/s (one-way, slot %zu KiB x %d)\n", name, gbps, slotBytes >> 10, slots);
}

TEST(TransportPerf, DISABLED_PingPong) {
  {
    std::vector<char> a(64 << 20, 1), b(64 << 20, 0);
    std::memcpy(b.data(), a.data(), a.size());
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 10; ++i) std::memcpy(i % 2 ? a.data() : b.data(), i % 2 ? b.data() : a.data(), a.size());
    std::printf("memcpy 64 MiB single core: %.2f GB/s\n", 10.0 * a.size() / seconds(start) / 1e9);
  }
  pingPong(Kind::Auto, "shm", 256 << 10, 8);
  pingPong(Kind::Auto, "shm", 64 << 10, 8);
  pingPong(Kind::Auto, "shm", 1 << 20, 8);
  pingPong(Kind::Tcp, "tcp", 256 << 10, 8);
}

}  // namespace

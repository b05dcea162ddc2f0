// Shared helpers of the transport tests: N fabrics in one process, one thread per rank.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <dirent.h>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "transport/fabric.hpp"

namespace loom::transport::testing {

inline uint64_t freshCommId() {
  static std::atomic<uint64_t> counter{0};
  return (static_cast<uint64_t>(getpid()) << 32) ^ (0xabc00000ull + ++counter) ^
         static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count() & 0xfff00000ull);
}

inline FabricConfig baseConfig(int rank, int nranks, Kind force, uint64_t commId) {
  FabricConfig c;
  c.rank = rank;
  c.nranks = nranks;
  for (int i = 0; i < 16; ++i) c.secret[i] = static_cast<uint8_t>(0x5a + i);
  c.commId = commId;
  c.hostId = "test-host";
  c.force = force;
  c.nsocks = 2;
  c.ifname = "lo";
  c.shmSlotBytes = 64 << 10;  // small slots: more fragments per message in tests
  c.shmSlots = 4;
  c.spinUs = 20;
  // Heartbeats only go out while a rank's thread is in the fabric; under a sanitizer on two busy
  // cores a thread filling its buffers can be starved past 5 s. Liveness tests set their own.
  c.failureDetectSeconds = 60;
  return c;
}

// Names in /dev/shm that belong to commId.
inline std::vector<std::string> shmLeftovers(uint64_t commId) {
  char prefix[64];
  std::snprintf(prefix, sizeof prefix, "loom-%016llx-", static_cast<unsigned long long>(commId));
  std::vector<std::string> out;
  if (DIR* d = opendir("/dev/shm")) {
    while (dirent* e = readdir(d))
      if (std::strncmp(e->d_name, prefix, std::strlen(prefix)) == 0) out.push_back(e->d_name);
    closedir(d);
  }
  return out;
}

struct Group {
  uint64_t commId = 0;
  std::vector<std::unique_ptr<Fabric>> f;
  std::vector<std::string> addrs;
};

// Creates and connects n fabrics; `tweak` may edit each rank's config first.
inline Group makeGroup(int n, Kind force, const std::function<void(FabricConfig&)>& tweak = {}) {
  Group g;
  g.commId = freshCommId();
  for (int r = 0; r < n; ++r) {
    FabricConfig c = baseConfig(r, n, force, g.commId);
    if (tweak) tweak(c);
    auto f = Fabric::create(c);
    EXPECT_TRUE(f.isOk()) << (f.isOk() ? "" : f.status().message());
    if (!f.isOk()) return g;
    g.addrs.push_back(f.value()->address());
    g.f.push_back(std::move(f.value()));
  }
  std::vector<Status> st(n);
  std::vector<std::thread> th;
  for (int r = 0; r < n; ++r)
    th.emplace_back([&, r] { st[r] = g.f[r]->connect(g.addrs, Deadline::after(std::chrono::seconds(20))); });
  for (auto& t : th) t.join();
  for (int r = 0; r < n; ++r) {
    EXPECT_TRUE(st[r].isOk()) << "rank " << r << ": " << st[r].message();
    if (st[r].isOk()) {
      EXPECT_TRUE(g.f[r]->finishSetup().isOk());
    }
  }
  return g;
}

// Drives progress until every completion is done; false on deadline.
inline bool drive(Fabric& f, const std::vector<Completion*>& cs, Deadline d) {
  for (;;) {
    bool all = true;
    for (auto* c : cs) all &= c->done;
    if (all) return true;
    if (d.expired()) return false;
    if (!f.progress()) f.waitForActivity(20);
  }
}

// Runs body(rank) on one thread per rank.
inline void onEachRank(int n, const std::function<void(int)>& body) {
  std::vector<std::thread> th;
  for (int r = 0; r < n; ++r) th.emplace_back(body, r);
  for (auto& t : th) t.join();
}

inline uint8_t pattern(int src, int dst, size_t msg, size_t i) {
  return static_cast<uint8_t>((src * 131 + dst * 31 + msg * 7 + i * 13 + (i >> 8)) & 0xff);
}

// int32 sum, written here so the tests do not depend on loom_mem.
inline void sumInt32(void* dst, const void* a, const void* b, size_t count) {
  auto* d = static_cast<int32_t*>(dst);
  auto* x = static_cast<const int32_t*>(a);
  auto* y = static_cast<const int32_t*>(b);
  for (size_t i = 0; i < count; ++i) d[i] = static_cast<int32_t>(static_cast<uint32_t>(x[i]) + static_cast<uint32_t>(y[i]));
}

// A receive into `dst`; with an `operand`, one that adds what arrives to it as int32 (sumInt32).
inline RecvSink sinkInto(void* dst, const void* operand = nullptr) {
  return operand ? RecvSink{dst, operand, &sumInt32, 4} : RecvSink{dst};
}

}  // namespace loom::transport::testing

// loomMemAlloc / loomMemFree and the C++ HostBuffer: alignment, zero fill, huge-page advice,
// exact errors, and collectives on such buffers.
#include <gtest/gtest.h>
#include <loom/loom.h>

#include <sys/prctl.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <loom/loom.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "os/host_memory.hpp"
#include "rank_threads.hpp"

namespace {

constexpr size_t kMiB = size_t(1) << 20;

bool allZero(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < n; ++i)
    if (b[i] != 0) return false;
  return true;
}

TEST(ApiMemory, AlignedZeroFilledAndWritable) {
  for (size_t bytes : {size_t(1), size_t(4096), 2 * kMiB - 1, 2 * kMiB, 5 * kMiB + 3}) {
    void* p = nullptr;
    ASSERT_EQ(loomMemAlloc(&p, bytes), loomSuccess) << bytes << ": " << loomGetLastError(nullptr);
    ASSERT_NE(p, nullptr);
    const uintptr_t align = bytes >= 2 * kMiB ? 2 * kMiB : 4096;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u) << bytes;
    EXPECT_TRUE(allZero(p, bytes)) << bytes;
    auto* b = static_cast<uint8_t*>(p);
    for (size_t i = 0; i < bytes; ++i) b[i] = static_cast<uint8_t>(i * 7);
    for (size_t i = 0; i < bytes; i += 4093) ASSERT_EQ(b[i], static_cast<uint8_t>(i * 7)) << bytes << " at " << i;
    EXPECT_EQ(loomMemFree(p), loomSuccess);
  }
}

TEST(ApiMemory, BadArgumentsGetExactErrors) {
  EXPECT_EQ(loomMemAlloc(nullptr, 64), loomInvalidArgument);
  EXPECT_NE(std::string(loomGetLastError(nullptr)).find("ptr is NULL"), std::string::npos);
  void* p = reinterpret_cast<void*>(0x1);
  EXPECT_EQ(loomMemAlloc(&p, 0), loomInvalidArgument);
  EXPECT_EQ(p, nullptr);
  EXPECT_NE(std::string(loomGetLastError(nullptr)).find("size is 0"), std::string::npos);
  EXPECT_EQ(loomMemAlloc(&p, SIZE_MAX), loomInvalidArgument);
  EXPECT_NE(std::string(loomGetLastError(nullptr)).find("too large"), std::string::npos);

  EXPECT_EQ(loomMemFree(nullptr), loomSuccess);
  int onStack = 0;
  EXPECT_EQ(loomMemFree(&onStack), loomInvalidArgument);
  EXPECT_NE(std::string(loomGetLastError(nullptr)).find("was not returned by loomMemAlloc"), std::string::npos);
  ASSERT_EQ(loomMemAlloc(&p, 3 * kMiB), loomSuccess);
  EXPECT_EQ(loomMemFree(static_cast<uint8_t*>(p) + 64), loomInvalidArgument);  // inside, not the start
  EXPECT_EQ(loomMemFree(p), loomSuccess);
  EXPECT_EQ(loomMemFree(p), loomInvalidArgument);  // twice
  EXPECT_NE(std::string(loomGetLastError(nullptr)).find("freed already"), std::string::npos);
}

// The kernel's verdict on the mapping holding p: smaps' THPeligible (1: huge pages may back it).
int thpEligible(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  const auto at = reinterpret_cast<uintptr_t>(p);
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-') {
      inside = lo <= at && at < hi;
      continue;
    }
    if (inside && line.rfind("THPeligible:", 0) == 0) return std::stoi(line.substr(12));
  }
  return -1;
}

std::string thpMode() {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string s;
  std::getline(f, s);
  return s;
}

TEST(ApiMemory, LargeAllocationsAskForHugePages) {
  auto big = loom::os::HostMemory::allocate(8 * kMiB);
  ASSERT_TRUE(big.isOk()) << big.status().message();
  auto small = loom::os::HostMemory::allocate(64 << 10);
  ASSERT_TRUE(small.isOk());
  EXPECT_FALSE(small.value().hugePageAdvice());  // no whole huge page to give it
  const std::string mode = thpMode();
  if (mode.empty() || mode.find("[never]") != std::string::npos)
    GTEST_SKIP() << "transparent huge pages are off here (" << mode << ")";
  if (::prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1) GTEST_SKIP() << "this process has huge pages disabled (prctl)";
  EXPECT_TRUE(big.value().hugePageAdvice());
  const int eligible = thpEligible(big.value().data());
  if (eligible < 0) GTEST_SKIP() << "this kernel's smaps has no THPeligible";
  EXPECT_EQ(eligible, 1) << "mode " << mode;
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  const bool mallocHuge = tunables && std::string(tunables).find("hugetlb") != std::string::npos;
  if (mode.find("[madvise]") != std::string::npos && !mallocHuge) {  // plain memory is not eligible there: the advice made it so
    std::vector<uint8_t> plain(8 * kMiB, 1);
    EXPECT_EQ(thpEligible(plain.data() + 4 * kMiB), 0);
  }
}

TEST(ApiMemory, HostMemoryMovesHandOverTheMapping) {
  auto m = loom::os::HostMemory::allocate(3 * kMiB);
  ASSERT_TRUE(m.isOk());
  void* p = m.value().data();
  EXPECT_EQ(m.value().size(), 4 * kMiB);  // whole huge pages
  loom::os::HostMemory a = std::move(m.value());
  EXPECT_EQ(a.data(), p);
  EXPECT_EQ(a.size(), 4 * kMiB);
  EXPECT_EQ(m.value().data(), nullptr);
  EXPECT_EQ(m.value().size(), 0u);
  EXPECT_FALSE(m.value().hugePageAdvice());
  static_cast<uint8_t*>(a.data())[a.size() - 1] = 7;  // still mapped, whole
  EXPECT_EQ(static_cast<uint8_t*>(p)[a.size() - 1], 7);
}

TEST(ApiMemory, CollectivesRunOnLoomMemory) {
  constexpr int kRanks = 2;
  constexpr size_t kCount = 3 * kMiB / sizeof(float) + 5;  // several huge pages, and a tail
  loomComm_t comms[kRanks];
  ASSERT_EQ(loomCommInitAll(comms, kRanks), loomSuccess) << loomGetLastError(nullptr);
  std::vector<int> bad(kRanks, -1);
  loomtest::onRanks(kRanks, [&](int r) {
    loom::HostBuffer<float> send(kCount), recv(kCount * kRanks);
    for (size_t i = 0; i < kCount; ++i) send[i] = static_cast<float>((i % 1000) + r * 1000);
    if (loomAllGather(send.data(), recv.data(), kCount, loomFloat32, comms[r], nullptr) != loomSuccess) return;
    int wrong = 0;
    for (int from = 0; from < kRanks; ++from)
      for (size_t i = 0; i < kCount; ++i) wrong += recv[from * kCount + i] != static_cast<float>((i % 1000) + from * 1000);
    bad[r] = wrong;
  });
  for (auto* c : comms) loomCommDestroy(c);
  EXPECT_EQ(bad, std::vector<int>(kRanks, 0));
}

TEST(ApiMemory, HostBufferOwnsItsMemory) {
  loom::HostBuffer<double> none(0);
  EXPECT_EQ(none.data(), nullptr);
  EXPECT_THROW(loom::HostBuffer<double>(SIZE_MAX / 4), loom::Error);
  loom::HostBuffer<double> a(1000);
  EXPECT_TRUE(allZero(a.data(), 1000 * sizeof(double)));
  double* p = a.data();
  loom::HostBuffer<double> b(std::move(a));
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(a.data(), nullptr);
  b = loom::HostBuffer<double>(10);
  EXPECT_EQ(loomMemFree(p), loomInvalidArgument);  // the move-assignment freed it
}

}  // namespace

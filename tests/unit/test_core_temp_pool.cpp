// TempPool: operations' temporary buffers come back and are reused, zeroed where asked.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "core/temp_pool.hpp"

namespace loom::core {
namespace {

TEST(TempPool, ADroppedBufferIsReusedForOneThatFits) {
  auto pool = TempPool::create();
  uint8_t* first = nullptr;
  {
    auto b = pool->take(1 << 20, false);
    ASSERT_NE(b.data(), nullptr);
    EXPECT_EQ(b.size(), 1u << 20);
    first = b.data();
    EXPECT_EQ(pool->spares(), 0u);
  }
  EXPECT_EQ(pool->spares(), 1u);
  auto again = pool->take(4096, false);  // smaller: the same memory
  EXPECT_EQ(again.data(), first);
  EXPECT_EQ(again.size(), 4096u);
  EXPECT_EQ(pool->spares(), 0u);
  auto bigger = pool->take(2 << 20, false);  // nothing spare fits: new memory
  EXPECT_NE(bigger.data(), first);
}

TEST(TempPool, ZeroedWhereAsked) {
  auto pool = TempPool::create();
  {
    auto b = pool->take(8192, false);
    std::memset(b.data(), 0xab, b.size());
  }
  auto z = pool->take(8192, true);
  EXPECT_TRUE(std::all_of(z.data(), z.data() + z.size(), [](uint8_t v) { return v == 0; }));
}

TEST(TempPool, KeepsTheLargestFewSpares) {
  auto pool = TempPool::create();
  uint8_t *p2000 = nullptr, *p3000 = nullptr;
  {
    auto a = pool->take(1000, false);
    auto b = pool->take(3000, false);
    auto c = pool->take(2000, false);
    p3000 = b.data();
    p2000 = c.data();
  }
  EXPECT_EQ(pool->spares(), TempPool::kSpares);
  // The 1000-byte one was dropped; each request gets the smallest spare that fits.
  auto d = pool->take(1500, false);
  auto e = pool->take(2500, false);
  EXPECT_EQ(d.data(), p2000);
  EXPECT_EQ(e.data(), p3000);
  EXPECT_EQ(pool->spares(), 0u);
}

TEST(TempPool, EmptyAndMovedBuffersHoldNothing) {
  auto pool = TempPool::create();
  auto none = pool->take(0, true);
  EXPECT_EQ(none.data(), nullptr);
  EXPECT_EQ(none.size(), 0u);
  auto a = pool->take(64, false);
  uint8_t* p = a.data();
  TempPool::Buffer b = std::move(a);
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b.size(), 64u);
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(a.size(), 0u);
  b = TempPool::Buffer{};  // hands the memory back
  EXPECT_EQ(pool->spares(), 1u);
}

TEST(TempPool, ABufferKeepsItsPoolAlive) {
  auto pool = TempPool::create();
  std::weak_ptr<TempPool> seen = pool;
  auto b = pool->take(64, false);
  pool.reset();  // the communicator went away while an operation still held memory
  EXPECT_FALSE(seen.expired());
  std::memset(b.data(), 1, b.size());
  b = TempPool::Buffer{};  // hands its memory to the pool it kept alive, which then goes too
  EXPECT_TRUE(seen.expired());
}

}  // namespace
}  // namespace loom::core

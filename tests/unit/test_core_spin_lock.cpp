// SpinLock: mutual exclusion under contention, try_lock's answers, and a waiter that outlasts
// its spinning and yielding still gets the lock once it is released.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "core/spin_lock.hpp"

namespace loom::core {
namespace {

TEST(SpinLock, TryLockFailsWhileHeldAndSucceedsAfterRelease) {
  SpinLock lock;
  ASSERT_TRUE(lock.try_lock());
  EXPECT_FALSE(lock.try_lock());
  std::thread other([&] { EXPECT_FALSE(lock.try_lock()); });
  other.join();
  lock.unlock();
  EXPECT_TRUE(lock.try_lock());
  lock.unlock();
}

TEST(SpinLock, ThreadsIncrementingUnderItLoseNoUpdate) {
  SpinLock lock;
  uint64_t counter = 0;  // plain: only the lock orders the threads' updates
  constexpr int kThreads = 4, kEach = 50000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        std::lock_guard guard(lock);
        ++counter;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter, static_cast<uint64_t>(kThreads) * kEach);
}

TEST(SpinLock, AWaiterPastItsSpinGetsTheLockOnceReleased) {
  SpinLock lock;
  lock.lock();
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    std::lock_guard guard(lock);
    got = true;
  });
  // Long enough for the waiter to have stopped spinning and yielding and to be napping.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(got.load());
  const auto released = std::chrono::steady_clock::now();
  lock.unlock();
  waiter.join();
  EXPECT_TRUE(got.load());
  // A nap is 50 us; a second is far beyond any scheduling delay and far short of a hang.
  EXPECT_LT(std::chrono::steady_clock::now() - released, std::chrono::seconds(1));
}

}  // namespace
}  // namespace loom::core

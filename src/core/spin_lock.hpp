// A lock for the per-call path: one atomic exchange to take it and a plain store to release it.
// A std::mutex pays an atomic operation on each side plus two calls into libc, and a blocking
// call took two locks: about a tenth of a 2-rank 8-byte broadcast's 0.1 us. The price is that
// nobody wakes a waiter: it spins briefly, then yields its core (the holder may be descheduled
// where ranks outnumber cores), then naps 50 us at a time. So it suits locks that are rarely
// contended, or whose waiters are not in a hurry (an abort waiting for the running operation).
#pragma once

#include <sched.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace loom::core {

class SpinLock {
 public:
  void lock() {
    while (!try_lock()) waitUnlocked();
  }
  bool try_lock() {
    return !locked_.load(std::memory_order_relaxed) && !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() { locked_.store(false, std::memory_order_release); }

 private:
  void waitUnlocked() const {
    for (int i = 0; locked_.load(std::memory_order_relaxed); i += i < 1024) {  // stops counting when napping
      if (i < 64) {
#if defined(__x86_64__)
        __builtin_ia32_pause();
#endif
      } else if (i < 1024) {
        sched_yield();
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
    }
  }
  std::atomic<bool> locked_{false};
};

}  // namespace loom::core

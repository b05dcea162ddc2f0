// Completion state shared by the engine (which completes it) and the user's loomRequest_t.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "core/deadline.hpp"
#include "core/status.hpp"

namespace loom::core {

class RequestState {
 public:
  void complete(Status s) {
    {
      std::lock_guard lock(mu_);
      status_ = std::move(s);
      done_.store(true, std::memory_order_release);
    }
    cv_.notify_all();
  }
  bool isDone() const { return done_.load(std::memory_order_acquire); }
  // Valid once isDone().
  const Status& status() const { return status_; }
  // Waits until done or the deadline; false on expiry.
  bool wait(Deadline deadline) {
    // A short spin catches fast operations without a sleep/wake round trip.
    for (int i = 0; i < 200 && !isDone(); ++i) __builtin_ia32_pause();
    if (isDone()) return true;
    std::unique_lock lock(mu_);
    while (!isDone()) {
      if (deadline.at() == Clock::time_point::max()) cv_.wait(lock);
      else if (cv_.wait_until(lock, deadline.at()) == std::cv_status::timeout) return isDone();
    }
    return true;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> done_{false};
  Status status_;
};

}  // namespace loom::core

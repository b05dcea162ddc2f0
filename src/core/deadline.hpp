// Every wait in Loom has a deadline.
#pragma once

#include <chrono>
#include <cstdint>

namespace loom {

using Clock = std::chrono::steady_clock;

class Deadline {
 public:
  static Deadline never() { return Deadline(Clock::time_point::max()); }
  static Deadline after(std::chrono::milliseconds ms) { return Deadline(Clock::now() + ms); }
  static Deadline afterSeconds(double s, Clock::time_point from = Clock::now()) {
    return Deadline(from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)));
  }
  explicit Deadline(Clock::time_point at) : at_(at) {}
  bool expired() const { return at_ != Clock::time_point::max() && Clock::now() >= at_; }
  // Milliseconds left, clamped to [0, cap]; for poll/epoll/futex timeouts.
  int remainingMs(int cap = 1 << 30) const {
    if (at_ == Clock::time_point::max()) return cap;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(at_ - Clock::now()).count();
    if (left < 0) return 0;
    return left > cap ? cap : static_cast<int>(left);
  }
  Clock::time_point at() const { return at_; }

 private:
  Clock::time_point at_;
};

}  // namespace loom

// What this rank is doing, for the timeout reports of other ranks: the last operation issued,
// the one running and what it waits on, the last one finished. Written by the threads that issue
// and run operations, read by the diagnostics service's thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "core/deadline.hpp"

namespace loom::core {

struct ProgressSnapshot {
  uint64_t issued = 0;    // sequence number of the last operation issued (0: none)
  uint64_t running = 0;   // the operation running now (0: none)
  std::string runningWhat;
  double runningSeconds = 0;
  std::string waitingOn;  // "recv from rank 2 (512 bytes, step 1), ..." once stuck, else empty
  uint64_t finished = 0;  // the last operation that ended (successfully or not)
};

class ProgressBoard {
 public:
  void issued(uint64_t seq) {
    std::lock_guard lock(mu_);
    s_.issued = std::max(s_.issued, seq);
  }
  void started(uint64_t seq, const std::string& what) {
    std::lock_guard lock(mu_);
    s_.running = seq;
    s_.runningWhat = what;
    s_.waitingOn.clear();
    since_ = Clock::now();
  }
  void waiting(std::string on) {
    std::lock_guard lock(mu_);
    s_.waitingOn = std::move(on);
  }
  void finished(uint64_t seq) {
    std::lock_guard lock(mu_);
    s_.finished = std::max(s_.finished, seq);
    s_.running = 0;
    s_.runningWhat.clear();
    s_.waitingOn.clear();
  }
  ProgressSnapshot snapshot() const {
    std::lock_guard lock(mu_);
    ProgressSnapshot out = s_;
    if (out.running) out.runningSeconds = std::chrono::duration<double>(Clock::now() - since_).count();
    return out;
  }

 private:
  mutable std::mutex mu_;
  ProgressSnapshot s_;
  Clock::time_point since_{};
};

}  // namespace loom::core

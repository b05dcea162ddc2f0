// What this rank is doing, for the timeout reports of other ranks: the last operation issued,
// the one running and what it waits on, the last one finished. Written by the threads that issue
// and run operations, read by the diagnostics service's thread. Every operation passes here, so
// the per-operation calls are relaxed atomic stores; text is written only once an operation has
// been stuck for a while (waiting()).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "core/deadline.hpp"

namespace loom::core {

struct ProgressSnapshot {
  uint64_t issued = 0;    // sequence number of the last operation issued (0: none)
  uint64_t running = 0;   // the operation running now (0: none)
  std::string runningWhat;  // "allreduce #12 (4096 bytes, ring)" once stuck, else empty
  double runningSeconds = 0;  // since it first waited
  std::string waitingOn;  // "recv from rank 2 (512 bytes, step 1), ..." once stuck, else empty
  uint64_t finished = 0;  // the last operation that ended (successfully or not)
};

class ProgressBoard {
 public:
  void issued(uint64_t seq) { issued_.store(seq, std::memory_order_relaxed); }
  // No clock read here (a small call must not pay for one): the running time counts from the
  // operation's first wait (waitingSince), which is when it can start to look stuck.
  void started(uint64_t seq) {
    sinceNs_.store(0, std::memory_order_relaxed);
    running_.store(seq, std::memory_order_release);
  }
  void waitingSince(Clock::time_point t) { sinceNs_.store(t.time_since_epoch().count(), std::memory_order_relaxed); }
  // Operation #seq is stuck: what it is and what it waits on.
  void waiting(uint64_t seq, const std::string& what, std::string on) {
    std::lock_guard lock(mu_);
    stuckSeq_ = seq;
    stuckWhat_ = what;
    stuckOn_ = std::move(on);
  }
  void finished(uint64_t seq) {
    running_.store(0, std::memory_order_relaxed);
    finished_.store(seq, std::memory_order_release);
  }
  ProgressSnapshot snapshot() const {
    ProgressSnapshot out;
    out.running = running_.load(std::memory_order_acquire);
    out.finished = finished_.load(std::memory_order_acquire);
    out.issued = std::max(issued_.load(std::memory_order_relaxed), std::max(out.running, out.finished));
    if (out.running) {
      if (auto ns = sinceNs_.load(std::memory_order_relaxed); ns != 0) {
        const auto since = Clock::time_point(Clock::duration(ns));
        out.runningSeconds = std::chrono::duration<double>(Clock::now() - since).count();
      }
      std::lock_guard lock(mu_);
      if (stuckSeq_ == out.running) {
        out.runningWhat = stuckWhat_;
        out.waitingOn = stuckOn_;
      }
    }
    return out;
  }

 private:
  std::atomic<uint64_t> issued_{0}, running_{0}, finished_{0};
  std::atomic<Clock::rep> sinceNs_{0};
  mutable std::mutex mu_;  // guards the stuck operation's text
  uint64_t stuckSeq_ = 0;
  std::string stuckWhat_, stuckOn_;
};

}  // namespace loom::core

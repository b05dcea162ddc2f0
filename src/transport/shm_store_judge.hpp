// How a sender writes a peer's ring slots: plain stores, whose lines stay in this core's cache for
// the receiver to take from there, or streaming (non-temporal) stores, which send them to memory
// for the receiver to read from there. Plain is the rule while the two cores share a cache. On
// the AMD development VM, whose host moves its two vCPUs apart now and then (a cache line's round
// trip 50 -> 330 ns, docs/performance.md "Where the cores are"), a line then crosses from one
// core's cache to the other at a fraction of memory's speed: a 2-rank allreduce of 32 MiB took
// 20-25 ms plain and 6-7.5 streamed, against 6.7-7.4 plain and 8.6-10 streamed with the cores
// together. Between the sockets of real servers the same holds.
//
// The sender sees it in its own copies: a plain store to a line the far receiver last read waits
// for that line. Over one such allreduce loop the senders' slot copies took 590-670 ms plain and
// 80-100 streamed with the cores apart, 130 either way with them together (where the receivers'
// copies out took 40% longer streamed: memory instead of a shared cache). So the sender times
// its slot copies in windows, streams where that copies faster by a wide margin, and times the
// other kind again now and then. Header-only: the transport feeds it copy times, tests made-up ones.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>

namespace loom::transport {

class StoreJudge {
 public:
  using Clock = std::chrono::steady_clock;
  enum Kind { kPlain = 0, kStream = 1 };
  // Slot copies of this many bytes or more are judged and timed; smaller ones are plain (their
  // receiver is usually waiting, and a copy of a few lines takes less than two clock reads).
  static constexpr size_t kJudgedBytes = 32 << 10;
  // A window's rate needs this many bytes.
  static constexpr size_t kWindowBytes = 2 << 20;
  // Streaming must copy this much faster to be chosen: the receiver then reads from memory,
  // which the sender's figure does not show (see above: 2x covers the receivers' 40%).
  static constexpr double kMargin = 2.0;
  // The kind not in use is timed again (one window) once this many windows and this much time
  // went the chosen way since the two were last compared (the cores move apart or together on a
  // scale of minutes; a plain window with them apart costs several streamed ones). Streaming is
  // also timed again at once when a plain window falls below half of streaming's last figure.
  static constexpr int kRecheckWindows = 32;
  static constexpr auto kRecheckAfter = std::chrono::milliseconds(500);

  Kind kind() const { return kind_; }

  // A judged slot copy of `bytes` with kind() took `seconds`, ending at `now`.
  void copied(size_t bytes, double seconds, Clock::time_point now) {
    bytes_ += bytes;
    samples_[count_++] = {static_cast<double>(bytes), std::max(seconds, 1e-9)};
    if (bytes_ < kWindowBytes && count_ < kMaxSamples) return;
    const double rate = windowRate();
    bytes_ = 0;
    count_ = 0;
    if (!warm_) {  // the first window faults the ring's pages in (2-rank allreduce: 1 GB/s, 10-15 after)
      warm_ = true;
      return;
    }
    if (kind_ == kPlain) plainBefore_ = rate_[kPlain];
    rate_[kind_] = rate;
    decide(now);
  }

  // The latest window's rate of a kind in bytes per second (0: not timed yet).
  double rate(Kind k) const { return rate_[k]; }

 private:
  static constexpr int kMaxSamples = kWindowBytes / kJudgedBytes;
  struct Sample {
    double bytes, seconds;
  };

  // Bytes over seconds, each copy's time capped at 4x the window's median time per byte: a copy
  // the scheduler preempted (ranks sharing cores) is not the stores' doing.
  double windowRate() {
    std::array<double, kMaxSamples> perByte;
    for (int i = 0; i < count_; ++i) perByte[i] = samples_[i].seconds / samples_[i].bytes;
    std::nth_element(perByte.begin(), perByte.begin() + count_ / 2, perByte.begin() + count_);
    const double cap = 4 * perByte[count_ / 2];
    double bytes = 0, seconds = 0;
    for (int i = 0; i < count_; ++i) {
      bytes += samples_[i].bytes;
      seconds += std::min(samples_[i].seconds, cap * samples_[i].bytes);
    }
    return bytes / seconds;
  }

  // Plain's figure for a decision: the better of its last two windows, so that one window the
  // machine slowed does not switch to streaming (it did, with the cores together: plain 7.7 GB/s
  // once against 13-14 in the windows around it, and the 2-rank allreduce of 32 MiB ran 15-20%
  // slower until plain was timed again). With the cores apart every plain window is slow.
  double plainRate() const { return std::max(rate_[kPlain], plainBefore_); }

  void decide(Clock::time_point now) {
    if (probing_) {  // the other kind had its window: both figures are fresh
      probing_ = false;
      windows_ = 0;
      comparedAt_ = now;
      kind_ = rate_[kStream] > plainRate() * kMargin ? kStream : kPlain;
      return;
    }
    ++windows_;
    const Kind other = kind_ == kPlain ? kStream : kPlain;
    const bool untried = rate_[other] == 0;
    const bool plainFellBehind = kind_ == kPlain && plainRate() * kMargin < rate_[kStream];
    const bool recheck = windows_ >= kRecheckWindows && now - comparedAt_ >= kRecheckAfter;
    if (untried || plainFellBehind || recheck) {
      probing_ = true;
      kind_ = other;
    }
  }

  Kind kind_ = kPlain;
  bool warm_ = false;     // a window has passed
  bool probing_ = false;  // kind_ is having its one window to be compared
  int windows_ = 0;       // windows of the chosen kind since the last comparison
  Clock::time_point comparedAt_{};
  size_t bytes_ = 0;
  int count_ = 0;
  std::array<Sample, kMaxSamples> samples_{};  // this window's copies
  double rate_[2] = {0, 0};
  double plainBefore_ = 0;  // the plain window before rate_[kPlain]'s
};

}  // namespace loom::transport

// Which way a long one-way shm stream goes to one peer: through the ring (both cores copy, in
// parallel) or single copy (the receiver reads our buffer). The ring is faster while the two
// cores share a cache and up to 6x slower while they do not, which on the AMD development VM
// changes from one minute to the next as the host moves the vCPUs (docs/performance.md, "Long
// one-way streams time the ring"); on real hardware it is fixed by where the ranks run. So the
// sender times the ring, and where it moves the stream slower than a threshold (the fabric's
// setOneWayProbeBelow: 1.5x the calibrated single-copy rate) tries single copy, for a warm-up
// window and a measured one, and keeps whichever moved bytes faster (single copy by a margin).
// While on single copy it times the ring again now and then (kStale, kMinWindows). Header-only:
// the transport feeds it the stream's messages, tests feed it times.
//
// Both ways are timed alike: from a message's first fragment (or its descriptor) until the
// receiver has it all (the ring's tail passed its last slot, or the receiver read it), counting
// only time while some message is in flight.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>

#include "transport/fabric.hpp"

namespace loom::transport {

class OneWayJudge {
 public:
  enum Way { kRing = 0, kSingle = 1 };
  // A rate needs this many bytes of the stream's messages.
  static constexpr size_t kWindowBytes = 8 << 20;
  // The way not in use is measured again (a warm-up window and a measured one) once its figure is
  // this old and this many windows went the chosen way since: in wall time, so that a fast stream
  // spends little on the slower way; in windows, so that a sparse one does not alternate.
  static constexpr auto kStale = std::chrono::seconds(1);
  static constexpr int kMinWindows = 8;
  // Single copy must be this much faster to be chosen (the ring is the rule the cost model knows).
  static constexpr double kMargin = 1.15;
  // Chose single copy but the messages kept taking the ring (the receiver reduces, so it never
  // shows a copy receive): back to the ring after this many windows, and no new try for kBackoff.
  static constexpr int kStuckWindows = 2;
  static constexpr int kBackoffWindows = 64;

  // The way for the next message of a long one-way stream.
  Way way() const { return way_; }

  // A message of the stream starts to move `way` (its first fragment, or its descriptor).
  void started(Way way, Clock::time_point now) {
    if (way != windowWay_) restart(way);
    if (inFlight_++ == 0) since_ = now;
  }
  // `messages` of them (`bytes` in all) are now wholly with the receiver. A window's time is the
  // time some message was in flight during it, so messages seen done together (the sender looked
  // after a while) count with the time they spent in flight, not as bytes moved in no time.
  void completed(Way way, size_t bytes, Clock::time_point now, double probeBelow, int messages = 1) {
    if (way != windowWay_ || inFlight_ == 0) return;  // started before the window restarted
    bytes_ += bytes;
    inFlight_ -= std::min(messages, inFlight_);
    if (inFlight_ == 0) busyTotal_ += now - since_;
    if (bytes_ < kWindowBytes) return;
    const auto busy = busyUntil(now) - windowStart_;
    if (busy <= Clock::duration::zero()) return;  // no time has passed yet: go on counting
    if (!warm_) {
      warm_ = true;  // a way's first window after a switch runs cold (2-rank 4 MiB broadcast: 4x slow)
    } else {
      rate_[way] = static_cast<double>(bytes_) / std::chrono::duration<double>(busy).count();
      measuredAt_[way] = now;
      decide(way, now, probeBelow);
    }
    bytes_ = 0;
    windowStart_ = busyUntil(now);
  }

  // The latest rate of a way in bytes per second (0: not measured yet).
  double rate(Way way) const { return rate_[way]; }

 private:
  void restart(Way way) {
    windowWay_ = way;
    bytes_ = 0;
    busyTotal_ = windowStart_ = Clock::duration::zero();
    inFlight_ = 0;  // messages of the old window complete uncounted
    warm_ = false;
  }

  // Time with some message in flight since the window way last changed.
  Clock::duration busyUntil(Clock::time_point now) const {
    return busyTotal_ + (inFlight_ > 0 ? now - since_ : Clock::duration::zero());
  }

  void choose(Way way) {
    if (way != way_) windowsOnWay_ = 0;
    way_ = way;
  }

  // A window that went `measured` closed.
  void decide(Way measured, Clock::time_point now, double probeBelow) {
    if (backoff_ > 0) --backoff_;
    if (measured != way_) {  // messages of the way before the last switch, or:
      if (way_ == kSingle && ++stuck_ >= kStuckWindows) {  // single copy chosen, yet the ring taken
        stuck_ = 0;
        backoff_ = kBackoffWindows;
        choose(kRing);
      }
      return;
    }
    stuck_ = 0;
    ++windowsOnWay_;
    // A ring fast enough is left alone: measuring single copy costs a few windows at its rate.
    if (way_ == kRing && (rate_[kRing] >= probeBelow || backoff_ > 0)) return;
    const Way other = way_ == kRing ? kSingle : kRing;
    if (rate_[other] == 0 || (now - measuredAt_[other] > kStale && windowsOnWay_ >= kMinWindows)) {
      choose(other);  // measure it (again)
      return;
    }
    // Both are fresh: single copy where it beats the ring by the margin.
    choose(rate_[kSingle] > rate_[kRing] * kMargin ? kSingle : kRing);
  }

  Way way_ = kRing;
  Way windowWay_ = kRing;
  size_t bytes_ = 0;
  int inFlight_ = 0;
  bool warm_ = false;      // a window of windowWay_ completed since it started
  int windowsOnWay_ = 0;   // measured windows of way_ since it was chosen
  int stuck_ = 0;          // windows that took the ring while way_ is single copy
  int backoff_ = 0;        // windows before single copy may be tried again
  Clock::time_point since_{};  // when the current run of in-flight messages began
  Clock::duration busyTotal_{}, windowStart_{};
  double rate_[2] = {0, 0};
  Clock::time_point measuredAt_[2]{};
};

}  // namespace loom::transport

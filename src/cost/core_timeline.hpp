// The work placed on one core that several ranks share, as disjoint busy intervals in time order.
// The cost model's scheduler commits actions out of time order (a message starts when its sender
// could, though its receiver was enabled later), so work may land in a gap before work placed
// earlier; a loop of calls places thousands of pieces, so touching intervals are merged and the
// list stays as short as the core's idle gaps.
#pragma once

#include <algorithm>
#include <utility>
#include <vector>

namespace loom::cost {

class CoreTimeline {
 public:
  using Interval = std::pair<double, double>;  // [start, end) in us

  // The earliest start at or after t of w us of work, in the first gap long enough for it.
  double earliestGap(double t, double w) const {
    // Disjoint and sorted, so the ends are sorted too: skip to the first that ends after t.
    auto it = std::partition_point(busy_.begin(), busy_.end(), [t](const Interval& iv) { return iv.second <= t + kEps; });
    for (; it != busy_.end() && it->first < t + w - kEps; ++it) t = it->second;
    return t;
  }

  // Marks [from, to) busy, merged with every interval it overlaps or touches.
  void take(double from, double to) {
    if (to <= from) return;  // nothing to hold (a free step)
    auto first = std::partition_point(busy_.begin(), busy_.end(), [from](const Interval& iv) { return iv.second < from; });
    auto last = first;
    for (; last != busy_.end() && last->first <= to; ++last) {
      from = std::min(from, last->first);
      to = std::max(to, last->second);
    }
    if (first == last) {
      busy_.insert(first, {from, to});
    } else {
      *first = {from, to};
      busy_.erase(first + 1, last);
    }
  }

  const std::vector<Interval>& intervals() const { return busy_; }

 private:
  static constexpr double kEps = 1e-9;  // us: rounding in sums of step times, not a real gap
  std::vector<Interval> busy_;
};

}  // namespace loom::cost

// Integer fields read from JSON numbers (a model's config, a topology file), with the range
// checked: casting a double outside the target's range (1e300, or an overflowing literal parsed
// as infinity) is undefined behaviour, so it is an error instead; the first one is kept.
#pragma once

#include <fmt/format.h>

#include <limits>
#include <string>

#include "core/status.hpp"

namespace loom::plan {

class IntFields {
 public:
  explicit IntFields(const std::string& origin) : origin_(origin) {}
  template <class T>
  T get(double v, const char* field) {
    constexpr double lo = double(std::numeric_limits<T>::min()) - 1.0, hi = double(std::numeric_limits<T>::max()) + 1.0;
    if (v > lo && v < hi) return static_cast<T>(v);
    if (status_.isOk()) status_ = invalidArgument(fmt::format("{}: {} {} is out of range", origin_, field, v));
    return 0;
  }
  const Status& status() const { return status_; }

 private:
  const std::string& origin_;
  Status status_;
};

}  // namespace loom::plan

// The median of a host's calibrations, constant by constant (tuning.hpp, medianOf).
#include <algorithm>

#include "cost/tuning.hpp"

namespace loom::cost {

namespace {

// With an even count the better of the middle two; but a time of 0 (not measured, or noise
// clamped to 0, as single_copy_us once was under a sanitizer) does not win that tie.
double medianValue(std::vector<double> v, bool lowerIsBetter) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  if (n % 2) return v[n / 2];
  return lowerIsBetter && v[n / 2 - 1] > 0 ? v[n / 2 - 1] : v[n / 2];
}

bool sameCurveSizes(const Tuning& a, const Tuning& b) {
  return a.copyCurve.size() == b.copyCurve.size() &&
         std::equal(a.copyCurve.begin(), a.copyCurve.end(), b.copyCurve.begin(),
                    [](const auto& x, const auto& y) { return x[0] == y[0]; });
}

}  // namespace

std::vector<std::vector<double>> measuredColumns(const std::vector<Tuning>& samples) {
  const Tuning& newest = samples.back();
  std::vector<std::vector<double>> columns;  // per constant, its value in each sample
  for (const Tuning& s : samples) {
    Tuning alike = s;
    if (!sameCurveSizes(s, newest)) alike.copyCurve = newest.copyCurve;
    size_t k = 0;
    forEachMeasured(std::as_const(alike), [&](const std::string&, const double& x, bool) {
      if (columns.size() <= k) columns.emplace_back();
      columns[k++].push_back(x);
    });
  }
  return columns;
}

Tuning medianOf(const std::vector<Tuning>& samples) {
  Tuning out = samples.back();
  std::vector<std::vector<double>> columns = measuredColumns(samples);
  size_t k = 0;
  forEachMeasured(out, [&](const std::string&, double& value, bool lowerIsBetter) {
    value = medianValue(std::move(columns[k++]), lowerIsBetter);
  });
  return out;
}

}  // namespace loom::cost

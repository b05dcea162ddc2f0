// The median of a host's calibrations, constant by constant (tuning.hpp, medianOf).
#include <algorithm>
#include <functional>

#include "cost/tuning.hpp"

namespace loom::cost {

namespace {

double medianValue(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Sets out's field to the median of that field over the samples.
template <typename Get>
void takeMedian(const std::vector<Tuning>& samples, Get get, Tuning* out) {
  std::vector<double> v;
  for (const Tuning& s : samples) v.push_back(get(s));
  std::invoke(get, *out) = medianValue(std::move(v));
}

}  // namespace

Tuning medianOf(const std::vector<Tuning>& samples) {
  Tuning out = samples.back();
  for (LinkCost Tuning::*link : {&Tuning::shm, &Tuning::tcp})
    for (double LinkCost::*f : {&LinkCost::alphaUs, &LinkCost::gbps, &LinkCost::cachedGbps, &LinkCost::msgUs,
                                &LinkCost::duplexGbps})
      takeMedian(samples, [&](auto& t) -> auto& { return (t.*link).*f; }, &out);
  for (double Tuning::*f : {&Tuning::copyGbps, &Tuning::reduceGbps, &Tuning::reduceLowGbps, &Tuning::copyCachedGbps,
                            &Tuning::reduceCachedGbps, &Tuning::singleCopyCachedGbps, &Tuning::singleCopyGbps,
                            &Tuning::singleCopyUs, &Tuning::wakeUs})
    takeMedian(samples, [&](auto& t) -> auto& { return t.*f; }, &out);
  // The curve point by point where every sample measured the same sizes (else the newest's).
  const auto sameSizes = [&](const Tuning& s) {
    return s.copyCurve.size() == out.copyCurve.size() &&
           std::equal(s.copyCurve.begin(), s.copyCurve.end(), out.copyCurve.begin(),
                      [](const auto& a, const auto& b) { return a[0] == b[0]; });
  };
  if (std::all_of(samples.begin(), samples.end(), sameSizes))
    for (size_t i = 0; i < out.copyCurve.size(); ++i)
      takeMedian(samples, [&](auto& t) -> auto& { return t.copyCurve[i][1]; }, &out);
  return out;
}

}  // namespace loom::cost

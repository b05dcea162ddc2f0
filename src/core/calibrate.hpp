// Measures the cost model's constants on this host, and finds the tuning a communicator uses.
#pragma once

#include <functional>
#include <string>

#include "core/status.hpp"
#include "cost/tuning.hpp"

namespace loom::core {

// Two threads in this process each drive one end of a shm pair and of a tcp loopback pair
// (ping-pong for latency, 4 MiB streams for bandwidth); memcpy and the fp32/bf16 sum kernels
// are timed on this core. About half a second; fails (timeout) past limitSeconds. The result's
// source is "calibrated", or kCalibratedBusy where other work held the cores meanwhile (the
// measuring threads got less than 80% of their CPUs, or shm latency was above 50 us).
inline constexpr const char* kCalibratedBusy = "calibrated on a busy machine";
Result<cost::Tuning> calibrate(double limitSeconds = 2.0);

namespace detail {
// The reduce out of the shm ring alone (GB/s), from the reducing exchange's bytes a side per second
// and the in-cache copy rate its copy into the ring runs at; 0 where the exchange was not measured.
double reduceOutOfRing(double exchangeGbps, double copyCachedGbps);
}  // namespace detail

// LOOM_TUNING_FILE when set (measured and written there if missing), else the cache for this
// hardware fingerprint. The cache keeps this host's calibrations and their median
// (cost::medianOf): until kCalibrationsKept have been tried, each call measures once more, so one
// calibration that other work slowed is outvoted. A calibration on a busy machine (or a failed
// one) is not kept but, once the cache has samples, counts as tried, and the samples are used.
// LOOM_CALIBRATE=0 skips measuring (the cache as it is, else built-in defaults). A malformed
// explicit file is an error naming the field; a damaged cache is measured again. `measure` is
// calibrate() but in tests.
inline constexpr size_t kCalibrationsKept = 3;
// Where that is: LOOM_TUNING_FILE when set, else this host's cache.
std::string tuningPath();
Result<cost::Tuning> loadOrCalibrate(const std::function<Result<cost::Tuning>()>& measure = [] { return calibrate(); });

}  // namespace loom::core

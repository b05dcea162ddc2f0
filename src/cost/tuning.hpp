// The measured constants of the cost model (one host class), their JSON file and the cache.
//
// Link costs are alpha-beta per message: alphaUs fixed, then bytes / gbps, charged to the
// threads of both ranks (each rank runs its transfers on one progress thread, so a rank that
// sends and receives in the same step pays for both). Local work is bytes / rate.
#pragma once

#include <algorithm>
#include <array>
#include <string>
#include <utility>
#include <string_view>
#include <vector>

#include "core/status.hpp"

namespace loom::cost {

struct LinkCost {
  double alphaUs = 0;  // per message
  double gbps = 1;     // GB/s (1e9 bytes) one way, one pair, data beyond the caches
  double cachedGbps = 0;  // the same for data in cache (0: as gbps)
  // The thread time per message (part of alphaUs, not on top of it): what bounds a stream of
  // small messages, e.g. a broadcast root running ahead over tcp (0: nothing). The model charges
  // it to the receiver, but to the sender over tcp within a host (replay.cpp, senderMsgUs).
  double msgUs = 0;
  // GB/s each way while both ends send and receive at once (tcp: an exchange, where each end's
  // kernel both sends and receives); 0: unknown, as gbps.
  double duplexGbps = 0;
  // An exchange of small messages, both ends sending at once and each waiting for both (tcp: each
  // end's send and receive with the other's running beside it); 0: unknown. Over loopback on the
  // AMD VM 7.9 us against a one-way message's 4.4 and half a ping-pong's 5.6.
  double exchangeUs = 0;
  // GB/s of a receive that reduces (fp32 sum) straight out of the link as the data arrives, in
  // cache (shm: what another core has just written into the ring); 0: unknown, the local
  // reduction's rate.
  double recvReduceCachedGbps = 0;
  double rate(bool inCache) const { return inCache && cachedGbps > 0 ? cachedGbps : gbps; }
  // msgUs as the model uses it: no more than the latency it is part of.
  double threadUs() const { return std::min(msgUs, alphaUs); }
  bool operator==(const LinkCost&) const = default;
};

struct Tuning {
  LinkCost shm{3.0, 5.0};
  LinkCost tcp{25.0, 1.2};
  double copyGbps = 10;        // memcpy on one core
  double reduceGbps = 6;       // fp32/int sum on one core (fp64 and integers alike)
  double reduceLowGbps = 4;    // fp16/bf16/fp8: widened to fp32 and rounded back
  double stepUs = 0.15;        // executor overhead per step (each end of a message pays it)
  // Per operation: submission and completion of a blocking call on the caller's thread (a 1-rank
  // 8-byte allreduce takes 0.11 us, a 2-rank one over shm about 0.5 us: this plus one message).
  // op_us and step_us are not measured: 0.2 and 0.15 fit the recorded race of bench/accuracy best
  // (replay.py: 20% median error, against 23% with the earlier 0.3 and 0.3).
  double opUs = 0.2;
  double copyCachedGbps = 0;    // the same rates for data in cache (0: as above)
  double reduceCachedGbps = 0;
  // A shm single-copy read (the receiver copies from the sender's buffer) for data in cache
  // (0: as shm.cachedGbps), taken from a one-way ring stream (calibrate.cpp); the model reads any
  // in-cache ring message from another core at it too. And at the memory
  // reference working set (0: as shm.gbps), a process_vm_readv of 16 MiB: slower than memcpy
  // there (9-11.6 GB/s against 14.5-14.8 on this VM), which a ring stream does not show.
  double singleCopyCachedGbps = 0;
  double singleCopyGbps = 0;
  // What one read call (process_vm_readv, up to transport::kCmaBurstBytes) costs beyond its bytes:
  // 1.3 us on the AMD EPYC VM, where a 16 KiB read took 2.5 us against 1.2 at the rate (0: none).
  double singleCopyUs = 0;
  double wakeUs = 20;          // extra per message when ranks share cores (more ranks than cores)
  // memcpy on one core against its working set (source + destination bytes), ascending: where
  // the caches end, and how far memory falls below the rates above (one core's as measured at a
  // working set of kMemoryRefBytes, the links' at kLinkRefBytes). Empty: the topology's last-level
  // cache decides, and no memory tier.
  std::vector<std::array<double, 2>> copyCurve;  // {working-set bytes, GB/s}
  std::string fingerprint;     // hardware the numbers were measured on
  std::string source = "built-in defaults";  // "calibrated", a file path, or the defaults

  bool operator==(const Tuning&) const = default;

  // One core's memcpy and reduction rates for data in cache (`inCache`, where measured) or at the
  // memory reference working set; lowPrecision: 16- and 8-bit floats (their cache rate scaled
  // from fp32's by the memory rates' ratio).
  double copyRate(bool inCache) const { return inCache && copyCachedGbps > 0 ? copyCachedGbps : copyGbps; }
  double singleCopyRate(bool inCache) const {
    const double measured = inCache ? singleCopyCachedGbps : singleCopyGbps;
    return measured > 0 ? measured : shm.rate(inCache);
  }
  double reduceRate(bool inCache, bool lowPrecision) const {
    const double mem = lowPrecision ? reduceLowGbps : reduceGbps;
    return inCache && reduceCachedGbps > 0 ? reduceCachedGbps * mem / reduceGbps : mem;
  }
};

// Microseconds to move `bytes` at `gbps` (GB/s, 1e9 bytes).
inline double usFor(double bytes, double gbps) { return bytes / (gbps * 1e3); }

// The working set at which copyGbps (and the other memory-speed rates of one core) were measured.
inline constexpr double kMemoryRefBytes = 32.0 * (1 << 20);
// The host's working set the links' memory rates count as measured at: the shm pair's exchange
// holds 64 MiB (each end sends 16 MiB and receives 16; calibrate.cpp, pairSide). tcp's one-way
// stream holds 32, but scaled from there the AMD races replayed 1-4 points worse than from 64.
inline constexpr double kLinkRefBytes = 2 * kMemoryRefBytes;

// memcpy GB/s at a working set of `bytes`, interpolated on the curve (log-log), held at its ends;
// 0 without a curve.
double curveGbps(const Tuning& t, double bytes);
// The largest working set at which one core still copies at least half as fast as at the curve's
// smallest: the cache a rank may count on (0 without a curve).
double cacheKneeBytes(const Tuning& t);

// "cpu model / cores / memory / loom version": a different value means measure again.
std::string hardwareFingerprint();

// With samples: the calibrations `t` was made from, kept under "samples", and how many were tried
// ("calibrations_tried", at least as many: busy ones are tried but not kept): a host's cache.
std::string toJson(const Tuning& t, const std::vector<Tuning>& samples = {}, int tried = 0);
// Errors name the field, e.g. "links.tcp.gbps: expected a positive number". With `samples`
// (a host's cache): also its "samples", checked the same way, or the file itself as the one
// sample when it has none, and in *tried (when given) its "calibrations_tried", at least the
// number of samples.
Result<Tuning> fromJson(std::string_view text, std::vector<Tuning>* samples = nullptr, int* tried = nullptr);
Result<Tuning> loadFile(const std::string& path, std::vector<Tuning>* samples = nullptr, int* tried = nullptr);
// Atomic (temporary file + rename): concurrent writers leave one whole file.
Status saveFile(const Tuning& t, const std::string& path, const std::vector<Tuning>& samples = {}, int tried = 0);
// saveFile's directory made if need be, and a file can be written there: asked before seconds
// of measuring, not after.
Status checkSavable(const std::string& path);

// Calls f(name, value, lowerIsBetter) for each constant a calibration measures (name as in the
// tuning file; lowerIsBetter for times, not rates). T is Tuning or const Tuning.
template <typename T, typename F>
void forEachMeasured(T& t, F f) {
  for (auto [link, name] : {std::pair{&t.shm, "links.shm."}, std::pair{&t.tcp, "links.tcp."}}) {
    const std::string p = name;
    f(p + "alpha_us", link->alphaUs, true);
    f(p + "msg_us", link->msgUs, true);
    f(p + "gbps", link->gbps, false);
    f(p + "cached_gbps", link->cachedGbps, false);
    f(p + "duplex_gbps", link->duplexGbps, false);
  }
  // Measured over one link only.
  f(std::string("links.tcp.exchange_us"), t.tcp.exchangeUs, true);
  f(std::string("links.shm.recv_reduce_cached_gbps"), t.shm.recvReduceCachedGbps, false);
  f(std::string("wake_us"), t.wakeUs, true);
  f(std::string("copy_gbps"), t.copyGbps, false);
  f(std::string("copy_cached_gbps"), t.copyCachedGbps, false);
  f(std::string("reduce_gbps"), t.reduceGbps, false);
  f(std::string("reduce_cached_gbps"), t.reduceCachedGbps, false);
  f(std::string("reduce_low_gbps"), t.reduceLowGbps, false);
  f(std::string("single_copy_gbps"), t.singleCopyGbps, false);
  f(std::string("single_copy_cached_gbps"), t.singleCopyCachedGbps, false);
  f(std::string("single_copy_us"), t.singleCopyUs, true);
  for (size_t i = 0; i < t.copyCurve.size(); ++i)
    f("copy_curve[" + std::to_string(i) + "]", t.copyCurve[i][1], false);
}

// Each measured constant's values over `samples` (not empty), in forEachMeasured's order; the
// copy curves of samples whose sizes differ from the newest's count as the newest's.
std::vector<std::vector<double>> measuredColumns(const std::vector<Tuning>& samples);

// Each measured constant the median of its values in `samples` (not empty): noise only ever
// makes a measurement slower, so one calibration taken while other work held the cores would
// stay wrong for good, and the median of three outvotes it. With an even count, the better of
// the middle two (the higher rate, the lower time; a mean would invent a figure, e.g. half a
// single-copy rate where one sample found single copy forbidden). A time of 0 (not measured,
// or clamped to 0 by noise) does not win that tie. The copy curve point by point
// (as measuredColumns lines the samples up); step_us and op_us, which are not measured, and the
// fingerprint from the newest sample.
Tuning medianOf(const std::vector<Tuning>& samples);
// $XDG_CACHE_HOME/loom/tuning-<hash of fingerprint>.json (or ~/.cache/...).
std::string defaultCachePath(const std::string& fingerprint);

}  // namespace loom::cost

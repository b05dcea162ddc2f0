// Calibration: the few numbers the cost model needs, measured the way the library moves data
// (the real fabric and kernels, one progress thread per end).
#include "core/calibrate.hpp"

#include <fmt/format.h>
#include <pthread.h>
#include <sched.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <ctime>
#include <random>
#include <thread>
#include <vector>

#include "core/deadline.hpp"
#include "core/log.hpp"
#include "core/params.hpp"
#include "mem/reduce.hpp"
#include "os/process.hpp"
#include "transport/fabric.hpp"
#include "transport/shm_fragments.hpp"

namespace loom::core {

namespace {

using Clock = std::chrono::steady_clock;

// A shared-memory message takes a few microseconds on any machine whose cores are free.
constexpr double kBusyAlphaUs = 50;
// The spinning pair got less than this share of the cores it should have had to itself (an idle
// 2-core VM: 93-100%).
constexpr double kBusyCpuShare = 0.8;

double secondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double threadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
}

// One end of the pair being measured: its fabric, its index (0 or 1), how long it spins after the
// last movement before waiting (as the engine does: this matters over tcp, where the fabric
// itself never spins; an in-process tcp ping-pong measured 55-65 us one way sleeping in epoll,
// against 17-22 us for a 1 KiB exchange between two ranks), and the deadline.
struct Side {
  transport::Fabric& f;
  int self;
  int spinUs;
  Deadline d;
  int peer() const { return 1 - self; }
};

// Drives the side's fabric until `c` completes or the deadline passes: progress, spinning
// spinUs since anything last moved (Engine::runSchedule), then wait for activity.
Status await(const Side& side, transport::Completion& c) {
  transport::Fabric& f = side.f;
  auto idleSince = Clock::now();
  while (!c.done) {
    if (side.d.expired()) {
      Status why = timeoutError("calibration: transfer did not complete");
      f.cancelPending(why);  // the caller's completions and buffers go out of scope
      return why;
    }
    if (f.progress()) {
      idleSince = Clock::now();
      continue;
    }
    if (Clock::now() - idleSince > std::chrono::microseconds(side.spinUs)) f.waitForActivity(1);
  }
  return c.status;
}

struct PairTimes {
  double alphaUs = 0;     // half the ping-pong round trip of 8 bytes
  double gbps = 0;        // 4 x 4 MiB: exchange (shm, per core) or one-way stream (tcp); memory speed
  double cachedGbps = 0;  // 16 x the same 256 KiB one way; cache speed (over shm: single copy)
  double msgUs = 0;       // spinning pairs: per message of a one-by-one stream of small ones
  double exchangeUs = 0;  // spinning pairs: per exchange of small messages, both ends one by one
  // Exchanging pairs (shm): per side, bytes sent / time of an in-cache exchange whose receives
  // reduce, each core copying into the ring and reducing out of it (calibrate separates the two).
  double reduceExchangeGbps = 0;
  double cpuShare = 1;    // the least, over both ends, of CPU time / wall time while measuring
  double duplexGbps = 0;  // one-way pairs (tcp): 4 x 4 MiB each way at once, per direction
};

// One stream of `count` messages of `bytes` from side 0 to side 1, closed by an ack; seconds.
// Message i uses buf + i * stride (stride 0: the same bytes each time, which stay in cache).
// oneByOne: each end posts a message only once its previous one completed, as blocking calls in
// a loop do (a broadcast's root runs ahead of its receiver by what the transport buffers).
Result<double> timeStream(const Side& side, uint8_t* buf, size_t bytes, size_t stride, int count,
                          bool oneByOne = false) {
  transport::Fabric& f = side.f;
  const int self = side.self, peer = side.peer();
  auto t0 = Clock::now();
  std::vector<transport::Completion> cs(count);
  transport::RecvSink sink;
  for (int i = 0; i < count; ++i) {
    uint8_t* part = buf + i * stride;
    sink.dst = part;
    self == 0 ? f.postSend(peer, part, bytes, &cs[i]) : f.postRecv(peer, bytes, sink, &cs[i]);
    if (oneByOne) LOOM_TRY(await(side, cs[i]));
  }
  for (auto& c : cs) LOOM_TRY(await(side, c));
  uint8_t ack[8] = {};
  transport::Completion a;
  sink.dst = ack;  // the receiver's ack closes the interval on the sender
  self == 0 ? f.postRecv(peer, 8, sink, &a) : f.postSend(peer, ack, 8, &a);
  LOOM_TRY(await(side, a));
  return secondsSince(t0);
}

struct ExchangeOptions {
  bool oneByOne = false;  // each side posts its next pair only once both of the previous completed
  bool sameBytes = false;  // every message from src and into dst (they stay in cache)
  mem::ReduceFn reduce = nullptr;  // the receive sums each message (fp32) with `operand` into dst
  const uint8_t* operand = nullptr;
};

// Both sides send `count` messages of `bytes` from `src` and receive as many into `dst` at once,
// as a ring step does; seconds on this side. Over shm each side copies every byte it sends into
// the ring and every byte it receives out of it, so 2 * count * bytes pass through each core.
// oneByOne, as a loop of 2-rank allgathers does; reduce, as a 2-rank reducescatter's receive does.
Result<double> timeExchange(const Side& side, const uint8_t* src, uint8_t* dst, size_t bytes, int count,
                            const ExchangeOptions& o = {}) {
  transport::Fabric& f = side.f;
  const int peer = side.peer();
  std::vector<transport::Completion> cs(2 * count);
  transport::RecvSink sink;
  sink.reduce = o.reduce;
  sink.elemSize = o.reduce ? sizeof(float) : 1;
  const size_t stride = o.sameBytes ? 0 : bytes;
  auto t0 = Clock::now();
  for (int i = 0; i < count; ++i) {
    sink.dst = dst + i * stride;
    sink.operand = o.operand ? o.operand + i * stride : nullptr;
    f.postRecv(peer, bytes, sink, &cs[2 * i]);
    f.postSend(peer, src + i * stride, bytes, &cs[2 * i + 1]);
    if (o.oneByOne) {
      LOOM_TRY(await(side, cs[2 * i]));
      LOOM_TRY(await(side, cs[2 * i + 1]));
    }
  }
  for (auto& c : cs) LOOM_TRY(await(side, c));
  return secondsSince(t0);
}

// Side 0 tells side 1 whether another round follows (both must run the same number of rounds).
Result<bool> agreeToGoOn(const Side& side, bool mine) {
  uint8_t go = mine ? 1 : 0;
  transport::Completion c;
  transport::RecvSink sink;
  sink.dst = &go;
  side.self == 0 ? side.f.postSend(1, &go, 1, &c) : side.f.postRecv(0, 1, sink, &c);
  LOOM_TRY(await(side, c));
  return go != 0;
}

// Rank `self` of a two-rank fabric pair: ping-pong then a stream, repeated in short rounds until
// `softEnd` (one round at least); the best round of each stands (a round the scheduler preempted
// is not the link's cost). Ten stream rounds, not three: replaying one recorded race
// (bench/accuracy/replay.py) against calibrations of three rounds moved the median error between
// 15% and 24% with shm's memory rate (8.7-13 GB/s); ten give 13.9-14.1 GB/s and 13-15%.
// Over shm the memory rate comes from exchanges (the cost model's per-core copy rate for each stage
// of a message); over tcp from one-way streams (a message occupies both ends there). The cache
// rate comes from one-way streams on both.
Status pairSide(const Side& side, bool exchange, PairTimes* out, Clock::time_point softEnd) {
  transport::Fabric& f = side.f;
  const int self = side.self, peer = side.peer();
  // The big transfers cover 16 MiB each way so that they run at memory speed, as large collectives
  // do, not cache speed.
  const int kPings = 30, kRounds = 12, kStreamRounds = 10, kStream = 4, kHotStream = 16, kSmallStream = 64;
  const int kDuplexRounds = exchange ? 0 : 3;
  const size_t kBig = 4 << 20, kHot = 256 << 10;
  std::vector<uint8_t> small(8), big(kStream * kBig, 1), into(kStream * kBig);
  auto transfer = [&](size_t bytes) {
    return exchange ? timeExchange(side, big.data(), into.data(), bytes, kStream)
                    : timeStream(side, big.data(), bytes, bytes, kStream);
  };
  double bestPing = 1e30, bestStream = 1e30, bestHot = 1e30, bestHotReduce = 1e30, bestSmall = 1e30, bestSwaps = 1e30,
         bestDuplex = 1e30;
  for (int round = 0; round < kRounds; ++round) {
    if (round > 0) {
      auto go = agreeToGoOn(side, Clock::now() < softEnd);
      if (!go.isOk()) return go.takeStatus();
      if (!go.value()) break;
    }
    auto t0 = Clock::now();
    for (int i = 0; i < kPings; ++i) {
      transport::Completion s, r;
      transport::RecvSink sink;
      sink.dst = small.data();
      if (self == 0) {  // ping, then wait for the pong
        f.postSend(peer, small.data(), small.size(), &s);
        f.postRecv(peer, small.size(), sink, &r);
        LOOM_TRY(await(side, r));
        LOOM_TRY(await(side, s));
      } else {
        f.postRecv(peer, small.size(), sink, &r);
        LOOM_TRY(await(side, r));
        f.postSend(peer, small.data(), small.size(), &s);
        LOOM_TRY(await(side, s));
      }
    }
    bestPing = std::min(bestPing, secondsSince(t0));
    if (side.spinUs > 0) {  // a sleeping pair's figures would go unused (calibrate)
      auto smallStream = timeStream(side, big.data(), small.size(), small.size(), kSmallStream, true);
      if (!smallStream.isOk()) return smallStream.takeStatus();
      bestSmall = std::min(bestSmall, smallStream.value());
      if (!exchange) {  // tcp: the model prices small exchanges there only
        auto swaps = timeExchange(side, big.data(), into.data(), small.size(), kSmallStream, {.oneByOne = true});
        if (!swaps.isOk()) return swaps.takeStatus();
        bestSwaps = std::min(bestSwaps, swaps.value());
      }
    }
    if (round >= kStreamRounds) continue;
    auto mem = transfer(kBig);
    if (!mem.isOk()) return mem.takeStatus();
    bestStream = std::min(bestStream, mem.value());
    // One way even over shm. The calibration pair has single copy off (FabricConfig::shmCmaBytes
    // 0), so this is the ring's pipelined stream in cache; the model uses it as the single-copy
    // read rate, which two processes in a loop of broadcasts read at (15-20 GB/s, against 28 for
    // process_vm_readv alone, which scored no better when tried). The same 256 KiB each time, so
    // that it stays in cache, and 16 of them: 4 x 256 KiB took about 100 us, short enough for
    // one preemption to decide the figure.
    auto hot = timeStream(side, big.data(), kHot, 0, kHotStream);
    if (!hot.isOk()) return hot.takeStatus();
    bestHot = std::min(bestHot, hot.value());
    if (exchange) {
      // The same bytes exchanged, each receive reduced out of the ring, as a 2-rank reducescatter
      // or allreduce does: lines the other core has just written, read while reducing while that
      // core reads ours. Timed one way instead (12.3-15.9 GB/s on the AMD VM), the model priced
      // those collectives of 64-256 KiB 40-50% fast.
      auto hotReduce = timeExchange(side, big.data(), into.data() + kHot, kHot, kHotStream,
                                    {.sameBytes = true, .reduce = mem::reduceFn(loomFloat32, mem::ReduceKind::Sum),
                                     .operand = into.data()});
      if (!hotReduce.isOk()) return hotReduce.takeStatus();
      bestHotReduce = std::min(bestHotReduce, hotReduce.value());
    }
    if (round >= kDuplexRounds) continue;
    // Both ways at once: over tcp each end's kernel then sends and receives, and each direction
    // runs slower than a one-way stream by more than its thread's two copies (a 2-rank allgather
    // of 64 MiB measured 23.4 ms, a broadcast of the same work per thread 18.2).
    auto duplex = timeExchange(side, big.data(), into.data(), kBig, kStream);
    if (!duplex.isOk()) return duplex.takeStatus();
    bestDuplex = std::min(bestDuplex, duplex.value());
  }
  out->alphaUs = bestPing * 1e6 / (2.0 * kPings);
  // The stream's closing ack is a round trip; the rest is one message after another.
  if (side.spinUs > 0) {
    out->msgUs = std::max(0.0, bestSmall * 1e6 - 2 * out->alphaUs) / kSmallStream;
    if (!exchange) out->exchangeUs = bestSwaps * 1e6 / kSmallStream;
  }
  // The ack's round trip comes off; per-message latency stays in (streamed messages overlap it,
  // and subtracting a noisy ping-pong figure four times can leave next to nothing).
  auto rate = [&](double seconds, size_t bytes, int count, bool bothWays) {
    if (bothWays) return 2.0 * count * static_cast<double>(bytes) / (seconds * 1e9);
    double us = std::max(seconds * 1e6 - 2 * out->alphaUs, seconds * 1e6 / 2);
    return count * static_cast<double>(bytes) / (us * 1e3);
  };
  out->gbps = rate(bestStream, kBig, kStream, exchange);
  out->cachedGbps = rate(bestHot, kHot, kHotStream, false);
  if (exchange) out->reduceExchangeGbps = kHotStream * static_cast<double>(kHot) / (bestHotReduce * 1e9);
  if (kDuplexRounds > 0) out->duplexGbps = rate(bestDuplex, kBig, kStream, true) / 2;
  return {};
}

// Calibration measures the host, not this rank's binding: a rank that loomrun bound to one CPU
// (--bind-to) would otherwise run both ends of every pair on it. The calling thread may use every
// CPU its cpuset allows while this lives (threads started meanwhile inherit that), then gets its
// own mask back.
class HostWideAffinity {
 public:
  HostWideAffinity() {
    saved_ = sched_getaffinity(0, sizeof old_, &old_) == 0;
    cpu_set_t all;
    CPU_ZERO(&all);
    for (int c = 0; c < CPU_SETSIZE; ++c) CPU_SET(c, &all);  // the kernel keeps what the cpuset allows
    if (saved_) sched_setaffinity(0, sizeof all, &all);
  }
  ~HostWideAffinity() {
    if (saved_) sched_setaffinity(0, sizeof old_, &old_);
  }
  HostWideAffinity(const HostWideAffinity&) = delete;
  HostWideAffinity& operator=(const HostWideAffinity&) = delete;

 private:
  cpu_set_t old_;
  bool saved_ = false;
};

// Pins the calling (short-lived calibration) thread to one CPU; best effort.
void pinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

// Threads that keep every core busy as the other ranks of an oversubscribed host do: they poll
// and yield (LOOM_YIELD_US), so a rank with work gets a core within a scheduler round. One per
// allowed CPU, pinned there.
class BusyCores {
 public:
  BusyCores() {
    for (int cpu : os::allowedCpus())
      threads_.emplace_back([this, cpu] {
        pinTo(cpu);
        while (!stop_.load(std::memory_order_relaxed)) sched_yield();
      });
  }
  ~BusyCores() {
    stop_ = true;
    for (auto& t : threads_) t.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

// pinned: both ends run on the first allowed CPU, so (with BusyCores) every hand-over goes through
// a run queue shared with a polling rank, as on a host with more ranks than cores. Left to the
// scheduler the placement varies run to run, and so did the figure (0 to 78 us).
Result<PairTimes> measurePair(transport::Kind kind, int spinUs, Deadline d, int yieldUs = 0, bool pinned = false) {
  const auto softEnd = Clock::now() + std::chrono::milliseconds(250);
  std::mt19937_64 rng(static_cast<uint64_t>(Clock::now().time_since_epoch().count()) ^ getpid());
  std::vector<std::unique_ptr<transport::Fabric>> f;
  std::vector<std::string> addrs;
  const uint64_t commId = rng();
  uint8_t secret[16];
  for (auto& b : secret) b = static_cast<uint8_t>(rng());
  for (int r = 0; r < 2; ++r) {
    transport::FabricConfig c;
    c.rank = r;
    c.nranks = 2;
    std::memcpy(c.secret, secret, sizeof secret);
    c.commId = commId;
    c.hostId = "calibration";
    c.force = kind;
    c.nsocks = static_cast<int>(params::getInt("LOOM_NSOCKS"));
    c.ifname = "lo";
    c.tcpBufferBytes = params::getBytes("LOOM_TCP_BUFFER_BYTES");
    c.tcpCongestion = params::getString("LOOM_TCP_CONGESTION");
    c.shmSlotBytes = params::getBytes("LOOM_SHM_SLOT_BYTES");
    c.shmSlots = static_cast<int>(params::getInt("LOOM_SHM_SLOTS"));
    c.spinUs = spinUs;
    c.yieldUs = yieldUs;
    auto made = transport::Fabric::create(c);
    if (!made.isOk()) return made.takeStatus();
    addrs.push_back(made.value()->address());
    f.push_back(std::move(made.value()));
  }
  Status st[2];
  PairTimes t[2];
  std::atomic<int> connected{0};
  const std::vector<int> cpus = pinned ? os::allowedCpus() : std::vector<int>{};
  {
    std::vector<std::thread> th;
    for (int r = 0; r < 2; ++r)
      th.emplace_back([&, r] {
        if (pinned) pinTo(cpus[0]);
        st[r] = f[r]->connect(addrs, d);
        // finishSetup unlinks our shm name: only once the peer has mapped it.
        connected.fetch_add(1);
        while (connected.load() < 2 && !d.expired()) std::this_thread::yield();
        if (st[r].isOk()) st[r] = f[r]->finishSetup();
        const auto wall0 = Clock::now();
        const double cpu0 = threadCpuSeconds();
        if (st[r].isOk()) st[r] = pairSide(Side{*f[r], r, spinUs, d}, kind == transport::Kind::Shm, &t[r], softEnd);
        t[r].cpuShare = (threadCpuSeconds() - cpu0) / std::max(secondsSince(wall0), 1e-9);
        if (!st[r].isOk()) f[1 - r]->abort();  // the other side must not wait for us
      });
    for (auto& x : th) x.join();
  }
  // The first failure, not the abort it caused on the other side.
  if (!st[0].isOk() && !st[1].isOk() && st[0].message().find("abort") != std::string::npos) return st[1];
  for (auto& s : st) LOOM_TRY(s);
  t[0].cpuShare = std::min(t[0].cpuShare, t[1].cpuShare);
  return t[0];
}

// Bytes per second of fn: the best of five runs (fewer where they pass 50 ms), then of more, up
// to 50, while all of them stay within 10 ms. Short runs need the more: the first calls after
// other work find colder caches, and an in-cache memcpy of 1 MiB after one of 16 MiB came out
// at 22-48 GB/s as the best of five on the AMD VM and at 48 as the best of fifty (best of twelve:
// 40-47); three calibrations' median had taken 27 GB/s.
template <typename Fn>
double rateGbps(size_t bytes, Fn fn) {
  double best = 1e30;
  const auto start = Clock::now();
  for (int i = 0; i < 50; ++i) {
    const auto spent = Clock::now() - start;
    if (i > 0 && spent > std::chrono::milliseconds(i < 5 ? 50 : 10)) break;
    auto t0 = Clock::now();
    fn();
    best = std::min(best, secondsSince(t0));
  }
  return static_cast<double>(bytes) / (std::max(best, 1e-9) * 1e9);
}

// memcpy on one core from 256 KiB to 64 MiB: where the caches end and how far memory falls
// beyond them (a VM may report its host's whole last-level cache; 2-core development VM: 57 GB/s
// up to 1 MiB of working set, 14-15 from 8 to 64 MiB, 7-10 beyond).
std::vector<std::array<double, 2>> measureCopyCurve() {
  const size_t most = 64 << 20;
  std::vector<uint8_t> src(most, 1), dst(most, 2);
  std::vector<std::array<double, 2>> curve;
  for (size_t bytes = 256 << 10; bytes <= most; bytes *= 4)
    curve.push_back({2.0 * static_cast<double>(bytes),
                     rateGbps(bytes, [&] { std::memcpy(dst.data(), src.data(), bytes); })});
  return curve;
}

// One single-copy read call, this process reading itself: false where the OS forbids it.
bool readOwnMemory(void* dst, const void* src, size_t bytes) {
  iovec local{dst, bytes}, remote{const_cast<void*>(src), bytes};
  return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == static_cast<ssize_t>(bytes);
}

// A single-copy read as the transport makes it (shm_cma.cpp: process_vm_readv, 4 MiB per call)
// of 16 MiB, this process reading itself; 0 where the OS forbids it (the transport then keeps the
// ring too).
double measureSingleCopyRead() {
  constexpr size_t kBytes = 16 << 20, kBurst = transport::kCmaBurstBytes;
  std::vector<uint8_t> src(kBytes, 1), dst(kBytes, 2);
  bool ok = true;
  const double gbps = rateGbps(kBytes, [&] {
    for (size_t off = 0; ok && off < kBytes; off += kBurst) ok = readOwnMemory(dst.data() + off, src.data() + off, kBurst);
  });
  return ok && dst[kBytes - 1] == 1 ? gbps : 0;
}

// What a single-copy read call costs beyond its bytes: reads of 4 and 64 KiB (in cache, this
// process reading itself), the line through their times at no bytes. 0 where the OS forbids it.
double measureSingleCopyCallUs() {
  constexpr size_t kSmall = 4 << 10, kLarge = 64 << 10;
  std::vector<uint8_t> src(kLarge, 1), dst(kLarge, 2);
  auto perCall = [&](size_t bytes) {
    std::vector<double> rounds;
    for (int r = 0; r < 5; ++r) {
      const auto t0 = Clock::now();
      constexpr int kCalls = 200;
      for (int i = 0; i < kCalls; ++i)
        if (!readOwnMemory(dst.data(), src.data(), bytes)) return -1.0;
      rounds.push_back(secondsSince(t0) * 1e6 / kCalls);
    }
    std::nth_element(rounds.begin(), rounds.begin() + 2, rounds.end());
    return rounds[2];  // the median of 5
  };
  const double small = perCall(kSmall), large = perCall(kLarge);
  if (small < 0 || large < 0) return 0;
  const double perByte = (large - small) / static_cast<double>(kLarge - kSmall);
  return std::max(0.0, small - perByte * static_cast<double>(kSmall));
}

}  // namespace

// The reduce out of the ring alone, GB/s: what a side of the reducing exchange took per byte beyond
// its copy into the ring at the in-cache copy rate, as the model charges the two. Where noise
// leaves the reduce under half the exchange, the reduce is priced at that half.
double detail::reduceOutOfRing(double exchangeGbps, double copyCachedGbps) {
  if (exchangeGbps <= 0) return 0;
  const double perByte = 1 / exchangeGbps - (copyCachedGbps > 0 ? 1 / copyCachedGbps : 0);
  return perByte > 0.5 / exchangeGbps ? 1 / perByte : 2 * exchangeGbps;
}

Result<cost::Tuning> calibrate(double limitSeconds) {
  auto t0 = Clock::now();
  Deadline d = Deadline::afterSeconds(limitSeconds);
  HostWideAffinity hostWide;
  cost::Tuning t;
  t.fingerprint = cost::hardwareFingerprint();
  t.source = "calibrated";
  // Spinning as a communicator whose ranks each have a core, then sleeping at once as one with
  // more ranks than cores (the difference is the cost of a wake-up).
  auto shm = measurePair(transport::Kind::Shm, 1000, d);
  if (!shm.isOk()) return shm.takeStatus();
  // Both ends of the spinning pair spin: on free cores each gets a whole one (a share of the one
  // CPU this process may use). Other work on the cores takes its part and skews every figure:
  // one cached at 2.1 us shm latency (5x an idle machine's) and 4.5 GB/s (a third) chose a 2-rank
  // allgather that measured 2x slower, in every job on the host since.
  const double cpus = static_cast<double>(std::max<size_t>(1, os::allowedCpus().size()));
  const double cpuShare = shm->cpuShare / std::min(1.0, cpus / 2);
  auto shmSleep = measurePair(transport::Kind::Shm, 0, d);
  if (!shmSleep.isOk()) return shmSleep.takeStatus();
  auto tcp = measurePair(transport::Kind::Tcp, 1000, d);
  if (!tcp.isOk()) return tcp.takeStatus();
  auto tcpSleep = measurePair(transport::Kind::Tcp, 0, d);
  if (!tcpSleep.isOk()) return tcpSleep.takeStatus();
  // Spinning on a busy machine waits for a descheduled peer: then sleeping is the better figure.
  t.shm = {std::min(shm->alphaUs, shmSleep->alphaUs), std::max(shm->gbps, shmSleep->gbps)};
  t.tcp = {std::min(tcp->alphaUs, tcpSleep->alphaUs), std::max(tcp->gbps, tcpSleep->gbps)};
  t.tcp.cachedGbps = std::max(tcp->cachedGbps, tcpSleep->cachedGbps);
  t.singleCopyCachedGbps = std::max(shm->cachedGbps, shmSleep->cachedGbps);
  // From the spinning pairs: a sleeping pair's ping-pong waits for wake-ups its stream does not,
  // so subtracting its latency left nothing (once 0 over shm).
  t.shm.msgUs = shm->msgUs;
  t.tcp.msgUs = tcp->msgUs;
  t.tcp.exchangeUs = tcp->exchangeUs;
  t.tcp.duplexGbps = std::max(tcp->duplexGbps, tcpSleep->duplexGbps);
  {
    // Yield-polling ranks on crowded cores: what a message costs on a host with more ranks than
    // cores (the communicator's setting there, see chooseYieldMicros).
    BusyCores busy;
    auto crowded = measurePair(transport::Kind::Shm, 0, d, 20000, true);
    if (!crowded.isOk()) return crowded.takeStatus();
    t.wakeUs = std::max(0.0, crowded->alphaUs - t.shm.alphaUs);
  }
  // 16 MiB buffers (memcpy's working set kMemoryRefBytes): past the per-core caches
  const size_t n = (16 << 20) / sizeof(float);
  std::vector<float> a(n, 1.0f), b(n, 2.0f), c(n);
  t.copyGbps = rateGbps(n * 4, [&] { std::memcpy(c.data(), a.data(), n * 4); });
  const size_t small = (1 << 20) / sizeof(float);
  t.copyCachedGbps = rateGbps(small * 4, [&] { std::memcpy(c.data(), a.data(), small * 4); });
  auto sumF32 = mem::reduceFn(loomFloat32, mem::ReduceKind::Sum);
  t.reduceGbps = rateGbps(n * 4, [&] { sumF32(c.data(), a.data(), b.data(), n); });
  t.reduceCachedGbps = rateGbps(small * 4, [&] { sumF32(c.data(), a.data(), b.data(), small); });
  // In cache a shm message's copy into the ring, and its read on the sender's core, is a memcpy at
  // cache speed (a read from another core runs at the in-cache stream's rate, singleCopyCachedGbps).
  // An in-process exchange measured less (9-15 GB/s here against 30 for memcpy: both ends share
  // one process), and two processes in a loop of collectives run near memcpy (fitted: 23% -> 21%).
  t.shm.cachedGbps = t.copyCachedGbps;
  t.shm.recvReduceCachedGbps =
      detail::reduceOutOfRing(std::max(shm->reduceExchangeGbps, shmSleep->reduceExchangeGbps), t.copyCachedGbps);
  auto sumBf16 = mem::reduceFn(loomBfloat16, mem::ReduceKind::Sum);
  t.reduceLowGbps = rateGbps(n * 4, [&] { sumBf16(c.data(), a.data(), b.data(), 2 * n); });
  t.copyCurve = measureCopyCurve();
  t.singleCopyGbps = measureSingleCopyRead();
  t.singleCopyUs = t.singleCopyGbps > 0 ? measureSingleCopyCallUs() : 0;
  if (cpuShare < kBusyCpuShare || t.shm.alphaUs > kBusyAlphaUs) t.source = kCalibratedBusy;
  LOOM_INFO("measuring pair had {:.0f}% of its cores{}", 100 * cpuShare,
            t.source == kCalibratedBusy ? ": the machine is busy, the figures are for this run only" : "");
  LOOM_INFO("calibrated in {:.0f} ms: shm {:.1f} us ({:.2f} per streamed message) {:.2f}/{:.2f} GB/s (reducing out "
            "of the ring {:.2f}), tcp {:.1f} us ({:.2f}; {:.2f} an exchange) {:.2f}/{:.2f} GB/s ({:.2f} each way "
            "duplex), wake {:.1f} us, copy {:.1f}/{:.1f}, reduce {:.1f}/{:.1f} GB/s (memory/cache), single-copy read "
            "{:.1f} GB/s (+{:.2f} us a call)",
            secondsSince(t0) * 1e3, t.shm.alphaUs, t.shm.msgUs, t.shm.gbps, t.shm.cachedGbps, t.shm.recvReduceCachedGbps,
            t.tcp.alphaUs, t.tcp.msgUs, t.tcp.exchangeUs, t.tcp.gbps, t.tcp.cachedGbps, t.tcp.duplexGbps, t.wakeUs,
            t.copyGbps, t.copyCachedGbps, t.reduceGbps, t.reduceCachedGbps, t.singleCopyGbps, t.singleCopyUs);
  return t;
}

namespace {
// A host's cached tuning, named with the number of calibrations it is the median of.
cost::Tuning describeCache(cost::Tuning t, size_t calibrations, const std::string& path) {
  t.source = calibrations > 1 ? fmt::format("{} (median of {} calibrations)", path, calibrations) : path;
  return t;
}
}  // namespace

std::string tuningPath() {
  const std::string path = params::getString("LOOM_TUNING_FILE");
  return path.empty() ? cost::defaultCachePath(cost::hardwareFingerprint()) : path;
}

Result<cost::Tuning> loadOrCalibrate(const std::function<Result<cost::Tuning>()>& measure) {
  const std::string fingerprint = cost::hardwareFingerprint();
  const bool explicitFile = !params::getString("LOOM_TUNING_FILE").empty();
  const bool mayMeasure = params::getInt("LOOM_CALIBRATE") != 0;
  const std::string path = tuningPath();
  std::vector<cost::Tuning> samples;  // this host's cached calibrations
  int tried = 0;                      // and how many were tried (busy or failed ones too)
  cost::Tuning cached;                // their median, as the cache holds it
  if (access(path.c_str(), F_OK) == 0) {
    // An explicit file is the user's, errors included; a stale or damaged cache is measured again.
    if (explicitFile) return cost::loadFile(path);
    auto t = cost::loadFile(path, &samples, &tried);
    if (!t.isOk()) LOOM_WARN("{}; measuring again", t.status().message());
    if (t.isOk() && t.value().fingerprint == fingerprint) {
      cached = describeCache(std::move(t.value()), samples.size(), path);
      if (tried >= static_cast<int>(kCalibrationsKept) || !mayMeasure) return cached;
    } else {
      samples.clear();
    }
  }
  if (!mayMeasure) {
    cost::Tuning t;
    t.fingerprint = fingerprint;
    return t;
  }
  auto t = measure();
  const bool busy = t.isOk() && t.value().source == kCalibratedBusy;
  if (!t.isOk() || busy) {
    if (!t.isOk()) {
      LOOM_WARN("calibration failed ({}); using {}", t.status().message(),
                samples.empty() ? "built-in cost constants" : "the cached calibrations");
    } else {
      LOOM_INFO("calibration ran on a busy machine; not caching it");
    }
    // Figures taken while other work held the cores would stick: not kept. A host whose cache
    // has samples counts the try, so that one always busy at init stops measuring.
    if (!samples.empty()) {
      if (Status s = cost::saveFile(cached, path, samples, tried + 1); !s.isOk())
        LOOM_WARN("could not cache the tuning: {}", s.message());
      return cached;
    }
    if (busy) return t;  // for this run only
    cost::Tuning def;
    def.fingerprint = fingerprint;
    return def;
  }
  samples.push_back(std::move(t.value()));
  cost::Tuning merged = cost::medianOf(samples);
  if (Status s = explicitFile ? cost::saveFile(merged, path) : cost::saveFile(merged, path, samples, tried + 1); !s.isOk())
    LOOM_WARN("could not cache the tuning: {}", s.message());
  if (samples.size() == 1) return merged;
  return describeCache(std::move(merged), samples.size(), path);
}

}  // namespace loom::core

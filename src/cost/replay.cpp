// The replay of model.hpp's machine model: every rank's schedule played on it by list scheduling
// (the action that can start earliest runs next). model.cpp builds the schedules and asks it.
#include "cost/replay.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <map>
#include <queue>
#include <set>
#include <span>

#include "cost/core_timeline.hpp"
#include "transport/shm_fragments.hpp"  // header-only: the fragment rule the transport follows

namespace loom::cost {

namespace {

using sched::StepKind;

// What one socket write or read moves at a time on loopback (the receiver starts on the first).
constexpr size_t kTcpFragBytes = 64 << 10;

enum Cat { kLatency, kShm, kTcp, kReduce, kCopy, kNumCats };
constexpr std::array<const char*, kNumCats> kCatNames = {"latency", "shm", "tcp", "reduce", "copy"};

struct StepRef {
  int rank;
  uint32_t step;
};

class Replay {
 public:
  // joins: per rank, the step of twice()'s that joins two calls (empty: none).
  Replay(const Tuning& t, const Placement& w, const std::vector<sched::Schedule>& s, bool low, size_t footprint,
         std::vector<uint32_t> joins = {})
      : t_(t), w_(w), s_(s), low_(low), footprint_(footprint), joins_(std::move(joins)) {}

  Result<Estimate> run() {
    const int n = w_.nranks();
    threadFree_.assign(n, 0);
    coreOf_.clear();
    coreBusy_.assign(2 * n, {});
    localUntil_.assign(n, 0);
    localEnabled_.assign(n, 0);
    threadWaiting_.assign(n, {});
    threadQueued_.assign(n, {});
    tcpSendUntil_.assign(n, 0);
    tcpRecvUntil_.assign(n, 0);
    ready_.resize(n);
    left_.resize(n);
    done_.resize(n);
    succ_.resize(n);
    busy_.assign(n, {});
    sent_.assign(n, {0, 0, 0});
    recvsPosted_.assign(n, 0);
    recvsFrom_.clear();
    std::vector<int> onHost(w_.numHosts(), 0);
    for (int h : w_.hostOf) ++onHost[h];
    const double knee = cost::cacheKneeBytes(t_);
    // Beyond the caches memory falls below a rate as the copy curve does from the working set the
    // rate was measured at to a larger one now (never above the measured rate, and never for a
    // smaller working set, where a measured curve need not rise: 7-23 GB/s at 32 MiB on the AMD VM).
    auto fallTo = [&](double bytes, double measuredAt) {
      const double ref = cost::curveGbps(t_, measuredAt);
      return ref > 0 && bytes > measuredAt ? std::min(1.0, cost::curveGbps(t_, bytes) / ref) : 1.0;
    };
    // A rank's own copies and reductions: its working set (every rank's footprint is the same).
    const double beyondCache = fallTo(static_cast<double>(footprint_), kMemoryRefBytes);
    size_t total = 0;
    std::vector<int> localIndex(w_.numHosts(), 0);
    std::map<std::pair<int, int>, int> sharedCores;  // (host, core) -> index in coreBusy_
    for (int r = 0; r < n; ++r) {
      int h = w_.hostOf[r];
      int cores = std::max(h < static_cast<int>(w_.coresOfHost.size()) ? w_.coresOfHost[h] : 1, 1);
      // A crowded host's ranks are bound round-robin (as loomrun binds them); elsewhere each
      // rank has a core of its own.
      const int local = localIndex[h]++;
      coreOf_.push_back(onHost[h] <= cores ? r
                                           : sharedCores.try_emplace({h, local % cores}, n + static_cast<int>(sharedCores.size()))
                                                 .first->second);
      sleeps_.push_back(onHost[h] > cores);  // the communicator stops spinning (LOOM_SPIN_US=-1)
      double cache = h < static_cast<int>(w_.cacheBytesOfHost.size()) ? w_.cacheBytesOfHost[h] / onHost[h] : 0;
      // A measured knee beats the topology's figure (a VM may report its host's whole cache):
      // each rank has its core's share of it.
      if (knee > 0) cache = std::min(cache > 0 ? cache : knee, knee * std::min(cores, onHost[h]) / onHost[h]);
      cacheShare_.push_back(cache);
      memScale_.push_back(inCache(r) ? 1.0 : beyondCache);
      // A link's rate: the working set of all the host's ranks, against kLinkRefBytes. On the AMD
      // VM (a 32 MiB L3) memcpy measures 7-23 GB/s at kMemoryRefBytes from one calibration to the
      // next and 10-13 at 128 MiB: scaled by the rank's share from there, the links' rates priced
      // 4-rank shm collectives of 64-256 MiB 50-100% slow.
      linkScale_.push_back(inCache(r) ? 1.0 : fallTo(static_cast<double>(footprint_) * onHost[h], kLinkRefBytes));
      double nic = h < static_cast<int>(w_.nicGbpsOfHost.size()) ? w_.nicGbpsOfHost[h] : 0;
      nicShare_.push_back(nic > 0 ? nic / onHost[h] : 1e30);
      const auto& sc = s_[r];
      total += sc.steps.size();
      ready_[r].assign(sc.steps.size(), 0);
      left_[r].resize(sc.steps.size());
      done_[r].assign(sc.steps.size(), false);
      succ_[r].assign(sc.steps.size(), {});
      for (uint32_t i = 0; i < sc.steps.size(); ++i) {
        const auto& st = sc.steps[i];
        left_[r][i] = st.numDeps;
        for (uint32_t d = 0; d < st.numDeps; ++d) succ_[r][sc.deps[st.firstDep + d]].push_back(i);
        if (st.kind == StepKind::Send) sends_[{r, st.peer}].push_back(i);
        else if (st.kind == StepKind::Recv || st.kind == StepKind::RecvReduce) recvs_[{st.peer, r}].push_back(i);
      }
    }
    for (auto& [pair, list] : sends_) {
      auto it = recvs_.find(pair);
      if (it == recvs_.end() || it->second.size() != list.size())
        return invalidArgument(fmt::format("cost model: unmatched messages from rank {} to rank {}", pair.first, pair.second));
    }
    std::vector<StepRef> roots;  // all found before any is enabled: enabling may complete steps (joins)
    for (int r = 0; r < n; ++r)
      for (uint32_t i = 0; i < s_[r].steps.size(); ++i)
        if (left_[r][i] == 0) roots.push_back({r, i});
    for (auto [r, i] : roots) enable(r, i);
    size_t committed = 0;
    while (!queue_.empty()) {
      const auto [key, seq, action] = queue_.top();
      queue_.pop();
      double start = earliest(action);
      if (start > key + 1e-9) {  // a thread it needs got busier since it was queued
        push(start, action);
        continue;
      }
      now_ = start;
      committed += commit(action, start);
    }
    if (committed + joined_ != total) return invalidArgument("cost model: the schedules deadlock");
    return finish();
  }

 private:
  // A local step (b.rank < 0), a matched message (a = send side, b = receive side), or the
  // receiving half of a shm message whose sender has committed (recvHalf).
  struct Action {
    StepRef a{-1, 0};
    StepRef b{-1, 0};
    bool recvHalf = false;
    double arrival = 0;    // recvHalf: the first fragment is in
    double notBefore = 0;  // recvHalf: the last fragment is in, plus its copy
    double work = 0;       // recvHalf: the receiver's copy or reduction, its wake-up included
    double wake = 0;       // recvHalf: waking the receiver (its core's time)
    bool reduces = false;
    bool singleCopy = false;  // recvHalf: the receiver reads the sender's buffer; the send ends with it
    double threadKey = 0;     // local steps and recvHalf: when ready on the receiver's thread (queueOnThread)
  };
  // An action queued at `key` (its earliest start when queued). Among actions that could start
  // at once, one that drains arrived data goes first, then a send, then local work, each in the
  // order queued: a progress pass (shm_channel.cpp) drains every arrived fragment but writes only
  // into free slots, and local work runs after the pass (executor.cpp). Left to the heap, ties
  // went either way from one row to the next (3 recorded races: 427 rows chosen within 10% of the
  // best; in FIFO order 418; this order 439 of 480).
  struct Entry {
    double key;
    uint64_t seq;
    Action action;
    int kind() const { return action.recvHalf ? 0 : action.b.rank >= 0 ? 1 : 2; }
    bool operator>(const Entry& o) const {
      if (key != o.key) return key > o.key;
      return kind() != o.kind() ? kind() > o.kind() : seq > o.seq;
    }
  };

  // twice()'s step between two calls: it takes no time and no thread.
  bool isJoin(int r, uint32_t i) const { return !joins_.empty() && joins_[r] == i; }

  bool isRemote(int a, int b) const { return w_.tcpOnly || w_.hostOf[a] != w_.hostOf[b]; }

  // A message starts when its sender can (the receiver joins later); a local step when its rank can.
  // A single-copy send only publishes a descriptor, which a progress pass does before it reads or
  // copies anything (shm_channel.cpp), so it does not wait for its rank's thread.
  double earliest(const Action& ac) const {
    if (ac.recvHalf)
      return coreSlot(ac.b.rank, std::max({ac.arrival, ready_[ac.b.rank][ac.b.step], threadFree_[ac.b.rank]}), ac.work);
    if (ac.b.rank >= 0 && singleCopy(ac)) return ready_[ac.a.rank][ac.a.step];
    const double t = std::max(ready_[ac.a.rank][ac.a.step], threadFree_[ac.a.rank]);
    if (!sleeps_[ac.a.rank]) return t;  // a core of its own: its thread is the only work there
    return coreSlot(ac.a.rank, t, ac.b.rank >= 0 ? sendCopyUs(ac, t) : t_.stepUs + localWork(ac.a.rank, ac.a.step));
  }

  // The earliest start from t of w us of work on r's core (core_timeline.hpp: work may land
  // before work committed earlier). Only ranks that share a core (sleeps_) keep a timeline; a
  // rank with a core of its own never works before its thread is free.
  double coreSlot(int r, double t, double w) const { return sleeps_[r] ? coreBusy_[coreOf_[r]].earliestGap(t, w) : t; }

  // Marks [from, to) busy on r's core.
  void takeCore(int r, double from, double to) {
    if (sleeps_[r]) coreBusy_[coreOf_[r]].take(from, to);
  }

  // A copy's or reduction's time, beyond the step overhead (none for an in-place copy).
  double localWork(int r, uint32_t step) const {
    const auto& sa = s_[r].steps[step];
    if (sa.kind == StepKind::Copy && sa.src.buf == sa.dst.buf && sa.src.offset == sa.dst.offset) return 0;
    return perByte(sa.dst.bytes, sa.kind == StepKind::Copy ? copyRate(inCache(r), r) : reduceRate(inCache(r), r));
  }

  // A single-copy message (src/transport/shm_cma.cpp): the receiver reads the sender's input
  // straight from its memory while the sender goes on; the send completes when the read does.
  // The transport does this for a copy (not a reduction) of the user's input when its host's
  // ranks fit its cores and the sender has receives posted, is in the middle of local work, or
  // streams no more than kCmaOneWayBytes to this receiver from this message on; where they
  // outnumber the cores, only when the sender waits for data from this same receiver.
  bool singleCopy(const Action& ac) const {
    const int a = ac.a.rank, b = ac.b.rank;
    const auto& sa = s_[a].steps[ac.a.step];
    if (w_.shmCmaBytes == 0 || isRemote(a, b) || sa.src.buf != sched::Buf::Input || sa.src.bytes < w_.shmCmaBytes ||
        s_[b].steps[ac.b.step].kind != StepKind::Recv)
      return false;
    if (sleeps_[a]) return exchanging(a, b);
    return recvsPosted_[a] > 0 || busyLocally(a, ready_[a][ac.a.step]) ||
           streamBytes(a, b) <= transport::kCmaOneWayBytes;
  }

  // A message its receiver has not posted yet may still leave, as the transport sends it: the
  // sender copies it into the shm ring or the socket, where it waits with the pair's other such
  // messages as long as they fit there, or, where the sender has receives from that receiver
  // posted, publishes a single-copy descriptor that the receiver reads once it asks
  // (shm_channel.cpp, tcp_channel.cpp). Asked when the message is matched and again when it
  // commits (single copy is decided then, on state that may have moved).
  bool mayLeaveEarly(const Action& ac, bool single) const {
    return single ? exchanging(ac.a.rank, ac.b.rank) : fitsWaiting(ac);
  }

  bool fitsWaiting(const Action& ac) const {
    const int a = ac.a.rank, b = ac.b.rank;
    const size_t bytes = s_[a].steps[ac.a.step].src.bytes;
    const auto p = parked_.find({a, b});
    return (p == parked_.end() ? 0 : p->second) + bytes <= buffered(a, b, bytes);
  }

  // How far a sender of `bytes` may run ahead of its receiver: the socket's buffer, or the shm
  // ring's slots of the message's fragments.
  size_t buffered(int a, int b, size_t bytes) const {
    return isRemote(a, b) ? w_.tcpBufferBytes
                          : std::min(bytes, transport::shmFragBytes(bytes, w_.shmSlotBytes)) *
                                static_cast<size_t>(std::max(w_.shmSlots, 1));
  }

  bool posted(const Action& ac) const {
    const auto en = recvEnabled_.find({ac.a.rank, ac.b.rank});
    return en != recvEnabled_.end() && en->second.count(ac.b.step);
  }

  // The receiving half of a message to its receiver's thread, or, where the receive is not
  // posted yet, kept until it is (enable).
  void handOver(const Action& half) {
    if (posted(half)) {
      queueOnThread(half.b.rank, half);
      return;
    }
    early_[{half.b.rank, half.b.step}] = half;
    parked_[{half.a.rank, half.b.rank}] += s_[half.a.rank].steps[half.a.step].src.bytes;
  }

  // a has local work (a copy or reduction) enabled, or running at `ready` or now.
  bool busyLocally(int a, double ready) const { return localEnabled_[a] > 0 || localUntil_[a] > std::max(ready, now_); }

  // Bytes a's enabled sends to b queue from the next one to match on, counted up to just past
  // kCmaOneWayBytes (as the transport counts).
  size_t streamBytes(int a, int b) const {
    size_t stream = 0;
    for (uint32_t step : queuedSends(a, b)) {
      if (!sendIsEnabled(a, b, step) || stream > transport::kCmaOneWayBytes) break;
      stream += s_[a].steps[step].src.bytes;
    }
    return stream;
  }

  // a's sends to b not yet matched, in FIFO order (enabled or not).
  std::span<const uint32_t> queuedSends(int a, int b) const {
    const auto ss = sends_.find({a, b});
    if (ss == sends_.end()) return {};
    const auto next = nextMatch_.find({a, b});
    return std::span<const uint32_t>(ss->second).subspan(next == nextMatch_.end() ? 0 : next->second);
  }

  bool sendIsEnabled(int a, int b, uint32_t step) const {
    const auto en = sendEnabled_.find({a, b});
    return en != sendEnabled_.end() && en->second.count(step);
  }

  bool exchanging(int a, int from) const {
    auto it = recvsFrom_.find({a, from});
    return it != recvsFrom_.end() && it->second > 0;
  }

  // A single-copy read beyond the caches runs at its measured rate unless memory at the ranks'
  // working set is slower still (memcpy's rate there): the read is bound by pinning pages, not
  // by memory, where it measures well below memcpy. Scaling it down by the copy curve like a
  // memory rate priced 2-rank broadcasts of 64-256 MiB (one single-copy message) 50% slow on the
  // AMD VM (4.1 GB/s measured at 16 MiB, 4.3 at 256 MiB; priced at 2.9).
  // (Without a measured rate the ring's memory rate stands in, scaled as memory rates are.)
  double singleCopyReadRate(int a, int b, bool hot) const {
    if (hot) return t_.singleCopyRate(true);
    const double mem = std::min(memScale_[a], memScale_[b]);
    if (t_.singleCopyGbps <= 0) return t_.singleCopyRate(false) * mem;
    return std::min(t_.singleCopyGbps, t_.copyRate(false) * mem);
  }

  void commitSingleCopy(const Action& ac, double start) {
    const int a = ac.a.rank, b = ac.b.rank;
    const size_t bytes = s_[a].steps[ac.a.step].src.bytes;
    const bool hot = inCache(a) && inCache(b);
    Action half = ac;
    half.recvHalf = true;
    half.singleCopy = true;
    const size_t reads = std::max<size_t>(1, (bytes + transport::kCmaBurstBytes - 1) / transport::kCmaBurstBytes);
    half.work = t_.stepUs + t_.singleCopyUs * static_cast<double>(reads) +
                perByte(bytes, singleCopyReadRate(a, b, hot));
    half.arrival = start + t_.stepUs + t_.shm.alphaUs;
    half.notBefore = half.arrival;
    const double at = coreSlot(a, std::max(threadFree_[a], start), t_.stepUs);
    threadFree_[a] = at + t_.stepUs;
    takeCore(a, at, threadFree_[a]);
    busy_[a][kLatency] += t_.stepUs;
    sent_[a][0] += bytes;
    sent_[a][2] += 1;
    handOver(half);
    finishMessage(ac);
  }

  // The rates a message flows at from `start`: the link's (gbps) and the sender's copy in (inGbps).
  struct SendRates {
    double gbps, inGbps;
  };
  SendRates sendRates(const Action& ac, double start) const {
    const int a = ac.a.rank, b = ac.b.rank;
    const bool tcp = isRemote(a, b);
    const LinkCost& link = tcp ? t_.tcp : t_.shm;
    const bool hot = inCache(a) && inCache(b);
    const double nic = w_.hostOf[a] != w_.hostOf[b] ? std::min(nicShare_[a], nicShare_[b]) : 1e30;
    // Over loopback tcp both ways at once (the sender is receiving, or the receiver sending or
    // about to), with a working set of kMemoryRefBytes or more, where calibration measures it
    // (exchanges of 1-4 MiB measured at the one-way rate): each end's kernel does both,
    // and each direction runs at the duplex rate. Each end's thread pays a copy per direction here
    // already, so the link runs at twice that. (In cache it made 4-rank exchanges of 1 MiB 40-73%
    // too slow.) Between hosts each kernel does one end only: not measured, so not applied.
    const bool duplex = tcp && !hot && static_cast<double>(footprint_) >= kMemoryRefBytes && t_.tcp.duplexGbps > 0 &&
                        w_.hostOf[a] == w_.hostOf[b] && bothWays(a, b, start);
    const double duplexCap = duplex ? 2 * t_.tcp.duplexGbps : 1e30;
    const double gbps = std::min(std::min(link.rate(hot), duplexCap) * std::min(linkScale_[a], linkScale_[b]), nic);
    // Forwarding what it has just received, the sender reads from its cache.
    const double inGbps = !hot && forwardsFresh(ac.a) ? std::min({link.rate(true), duplexCap, nic}) : gbps;
    return {gbps, inGbps};
  }

  // The sender's thread (and core) time of a message through the ring or the socket.
  double sendCopyUs(const Action& ac, double start) const {
    return t_.stepUs + senderThreadUs(ac, start) +
           perByte(s_[ac.a.rank].steps[ac.a.step].src.bytes, sendRates(ac, start).inGbps);
  }

  // Over loopback tcp the message flows while its ends also move data the other way: the sender
  // is receiving over tcp (from any peer), the receiver sending (to any peer), or the receiver's
  // next message to the sender is ready.
  bool bothWays(int a, int b, double start) const {
    return tcpRecvUntil_[a] > start || tcpSendUntil_[b] > start || reverseReady(a, b, start);
  }

  // senderMsgUs, and within a host over tcp, where the message flows both ways at once, what
  // a calibrated exchange of small messages costs beyond it: each end's send and receive, each
  // kernel running both directions (on the AMD VM 7.9 us a 1 KiB exchange against 4.4 for a
  // one-way message; priced at 6.2, every tcp exchange of 1-16 KiB came out 20-25% fast). The
  // arrival stays at alpha: the exchange's receive is in that time.
  double senderThreadUs(const Action& ac, double start) const {
    const int a = ac.a.rank, b = ac.b.rank;
    const double base = senderMsgUs(a, b);
    if (base == 0 || t_.tcp.exchangeUs <= t_.tcp.threadUs() || !bothWays(a, b, start)) return base;
    return base + t_.tcp.exchangeUs - t_.tcp.threadUs();
  }

  // The sender's share of a message's thread time (the rest is the receiver's). Over tcp within
  // a host the sender's system call also runs the loopback's receive path, and the calibrated
  // per-message time (a stream's, which the busier end sets) is the sender's: a flat 4-rank
  // broadcast of 8 B, whose root sends three messages a call, measured 1.4x the chain (one each),
  // which the model, charging the sender nothing, rated equal. Between hosts, where nothing
  // measures the split, the receiver keeps it all.
  double senderMsgUs(int a, int b) const {
    return w_.hostOf[a] == w_.hostOf[b] && isRemote(a, b) ? t_.tcp.threadUs() : 0;
  }

  // The sender copies into the ring (or the socket) while the receiver copies (or reduces) out
  // of it, one fragment behind; with more fragments than the ring (socket buffer) holds the
  // sender waits for the receiver. The receiving half is queued at the first fragment's arrival,
  // so the receiver's thread is free until then (both ends of an exchange send first, as the
  // executor does).
  void commitPipelinedSend(const Action& ac, double start) {
    const int a = ac.a.rank, b = ac.b.rank;
    const bool tcp = isRemote(a, b);
    const LinkCost& link = tcp ? t_.tcp : t_.shm;
    const auto& sb = s_[b].steps[ac.b.step];
    const size_t bytes = s_[a].steps[ac.a.step].src.bytes;
    const bool hot = inCache(a) && inCache(b);
    const auto [gbps, inGbps] = sendRates(ac, start);
    // A shm receiver reduces straight out of the ring. A tcp one reads the socket into a staging
    // buffer that stays in cache (tcp_channel.cpp), then reduces it, one after the other on its
    // thread; the sender may be slower still. In cache the two add up (2-rank reducescatter of
    // 1 MiB 168 us, allgather 128); beyond, the sender's copies through memory hide most of the
    // reduction (256 MiB: 89.6 and 89.7 ms).
    // Where each rank has a core, reducing in cache what the other core has just written into
    // the ring runs no faster than the calibrated such receive (fp32; other types scaled as their
    // local rates are).
    const double fromRing = t_.shm.recvReduceCachedGbps;
    const double red = !tcp && hot && fromRing > 0 && !sleeps_[b]
                           ? reduceRate(true, b) * std::min(1.0, fromRing / t_.reduceRate(true, false))
                           : reduceRate(hot, b);
    // A receiver on another core than its sender reads what that core just wrote through the
    // caches, at the calibrated in-cache stream's rate; on the sender's core it is in its own cache.
    // (A 4-rank chain broadcast of 256 KiB, all hops across cores, measured 1.5x the
    // neighbours-first tree, whose later hops stay on one core, for the same copies. Where each
    // rank has a core, the copy rate priced the 2-rank shm allreduce of 64-256 KiB 40-45% fast on
    // the AMD VM, whose allgather half, out of the ring, took as long as a stand-alone allgather.)
    const bool crossCore = hot && !tcp && coreOf_[a] != coreOf_[b];
    const double readGbps = crossCore ? std::min(gbps, t_.singleCopyRate(true)) : gbps;
    const double outGbps = sb.kind != StepKind::RecvReduce ? readGbps
                           : tcp ? std::min(gbps, 1 / (1 / link.rate(true) + 1 / red))
                                 : std::min(gbps, red);
    const size_t frag = std::min(bytes, tcp ? kTcpFragBytes : transport::shmFragBytes(bytes, w_.shmSlotBytes));
    const double copyIn = perByte(bytes, inGbps);
    Action half = ac;
    half.recvHalf = true;
    half.reduces = sb.kind == StepKind::RecvReduce && outGbps < gbps;
    // The two ends' thread time per message is part of the latency, not on top of it.
    const double sendUs = senderThreadUs(ac, start);
    const double recvUs = link.threadUs() - senderMsgUs(a, b);
    // Waking a sleeping receiver takes its core's time: where another rank holds that core, the
    // wake-up waits for it.
    half.wake = sleeps_[b] ? t_.wakeUs : 0;
    half.work = t_.stepUs + recvUs + perByte(bytes, outGbps) + half.wake;
    // A sleeping sender's message to a rank that spins (another host) pays it as latency.
    half.arrival = start + t_.stepUs + link.alphaUs - recvUs + (sleeps_[a] && !sleeps_[b] ? t_.wakeUs : 0) +
                   perByte(frag, inGbps);
    const double copied = start + t_.stepUs + sendUs + copyIn;
    double sendEnd = copied;
    // alpha already holds the sender's system call.
    half.notBefore = copied - sendUs + link.alphaUs + perByte(frag, outGbps);
    const auto ring = static_cast<double>(buffered(a, b, bytes));
    // The sender's copy holds its core first (a receiver on that core waits for it). Nothing
    // below moves the receiver's readiness (only the sender's), so this is when the receiving
    // half can start, where its receive is posted. A message in before that fits its ring or
    // socket, so the bound below does not apply to it, and its receive's end is recorded when
    // it is taken (commitRecvHalf).
    const bool isPosted = posted(ac);
    takeCore(a, start, copied);
    const double halfStart = earliest(half);
    const double recvEnd = std::max(halfStart + half.work, half.notBefore);
    if (static_cast<double>(bytes) > ring) {  // runs at most a ring ahead of the receiver
      sendEnd = std::max(sendEnd, recvEnd - perByte(size_t(ring), outGbps));
    }
    // Waiting for ring space does not hold the thread: it moves its other messages meanwhile
    // (an exchange's receive above all), so only the copying counts against it. Holding it had
    // priced a 2-rank halving-doubling allreduce of 64 MiB, whose messages outgrow the ring, at
    // 1.4x the ring algorithm's; they measure the same.
    threadFree_[a] = copied;
    if (tcp) {
      tcpSendUntil_[a] = std::max(tcpSendUntil_[a], sendEnd);
      if (isPosted) tcpRecvUntil_[b] = std::max(tcpRecvUntil_[b], recvEnd);
    }
    busy_[a][kLatency] += t_.stepUs + sendUs;
    busy_[a][tcp ? kTcp : kShm] += copyIn;
    sent_[a][tcp ? 1 : 0] += bytes;
    sent_[a][2] += 1;
    complete(ac.a, sendEnd);
    handOver(half);
    finishMessage(ac);  // the pair's next message may start: rings and sockets are FIFO
  }

  // b's next message to a is enabled and ready by `start`: it will flow while a's does (an
  // exchange's two sends are committed one after the other).
  bool reverseReady(int a, int b, double start) const {
    const auto q = queuedSends(b, a);
    return !q.empty() && sendIsEnabled(b, a, q.front()) && ready_[b][q.front()] <= start;
  }

  // A send whose source a step it waits for has just written, small enough to be in its cache
  // still (a ring's forwarded chunk; not a whole message beyond the cache).
  bool forwardsFresh(StepRef ref) const {
    const auto& sc = s_[ref.rank];
    const sched::Span& src = sc.steps[ref.step].src;
    const double cache = cacheShare_[ref.rank];
    for (uint32_t d = 0; d < sc.steps[ref.step].numDeps; ++d) {
      const sched::Step& w = sc.steps[sc.deps[sc.steps[ref.step].firstDep + d]];
      if (w.kind == StepKind::Send || w.dst.buf != src.buf) continue;
      const bool overlaps = w.dst.offset < src.offset + src.bytes && src.offset < w.dst.offset + w.dst.bytes;
      if (overlaps && static_cast<double>(w.dst.bytes) <= cache) return true;
    }
    return false;
  }

  void commitRecvHalf(const Action& ac, double start) {
    const int b = ac.b.rank;
    const double end = std::max(start + ac.work, ac.notBefore);
    if (isRemote(ac.a.rank, b)) tcpRecvUntil_[b] = std::max(tcpRecvUntil_[b], end);
    threadFree_[b] = end;
    takeCore(b, start, start + ac.work);
    busy_[b][kLatency] += t_.stepUs + ac.wake;
    busy_[b][ac.reduces ? kReduce : isRemote(ac.a.rank, b) ? kTcp : kShm] += ac.work - t_.stepUs - ac.wake;
    complete(ac.b, end);
    if (ac.singleCopy) complete(ac.a, end);
    leaveThread(b, ac);
  }

  void enable(int r, uint32_t i) {
    const auto& st = s_[r].steps[i];
    if (isJoin(r, i)) {  // done once enabled: what it waits for is done
      ++joined_;
      complete({r, i}, ready_[r][i]);
      return;
    }
    if (st.kind == StepKind::Copy || st.kind == StepKind::Reduce) {
      ++localEnabled_[r];
      queueOnThread(r, {{r, i}, {-1, 0}});
      return;
    }
    // A message starts once its send is enabled and its receive too, or without the receive where
    // it may leave early; in FIFO order per ordered pair.
    bool isSend = st.kind == StepKind::Send;
    if (!isSend) {
      ++recvsPosted_[r];
      ++recvsFrom_[{r, st.peer}];
    }
    std::pair<int, int> pair = isSend ? std::pair{r, st.peer} : std::pair{st.peer, r};
    auto& en = isSend ? sendEnabled_[pair] : recvEnabled_[pair];
    en.insert(i);
    if (!isSend) {
      if (auto it = early_.find({r, i}); it != early_.end()) {  // its message is already in
        const Action half = it->second;
        early_.erase(it);
        parked_[{half.a.rank, r}] -= s_[half.a.rank].steps[half.a.step].src.bytes;
        queueOnThread(r, half);
      }
    }
    tryMatch(pair);
  }

  void tryMatch(std::pair<int, int> pair) {
    size_t& k = nextMatch_[pair];
    auto& ss = sends_[pair];
    auto& rs = recvs_[pair];
    if (k >= ss.size() || matchedInFlight_[pair] || !sendEnabled_[pair].count(ss[k])) return;
    Action ac{{pair.first, ss[k]}, {pair.second, rs[k]}};
    if (!recvEnabled_[pair].count(rs[k]) && !mayLeaveEarly(ac, singleCopy(ac))) return;
    matchedInFlight_[pair] = true;
    push(earliest(ac), ac);
  }

  int commit(const Action& ac, double start) {
    if (ac.recvHalf) {
      commitRecvHalf(ac, start);
      return 1;
    }
    if (ac.b.rank >= 0) {
      const bool single = singleCopy(ac);
      if (!posted(ac) && !mayLeaveEarly(ac, single)) {  // no longer may: it waits for its receive (enable)
        matchedInFlight_[{ac.a.rank, ac.b.rank}] = false;
        return 0;
      }
      if (single) commitSingleCopy(ac, start);
      else commitPipelinedSend(ac, start);
      return 1;
    }
    const int r = ac.a.rank;
    std::array<double, kNumCats> cost{};
    cost[kLatency] = t_.stepUs;
    cost[s_[r].steps[ac.a.step].kind == StepKind::Copy ? kCopy : kReduce] = localWork(r, ac.a.step);
    double end = start;
    for (int c = 0; c < kNumCats; ++c) {
      end += cost[c];
      busy_[r][c] += cost[c];
    }
    threadFree_[r] = end;
    takeCore(r, start, end);
    localUntil_[r] = end;
    --localEnabled_[r];
    complete(ac.a, end);
    leaveThread(r, ac);
    return 1;
  }

  // A rank's thread runs its local steps and the receiving halves of its messages one at a time.
  // Of each kind, only those ready first wait in queue_ (where Entry's order decides between the
  // kinds), the rest here, by when they are ready. With all of them in queue_, each commit on the
  // thread re-queued every other: a 2-rank ring allreduce of 1 GiB, whose sender runs hundreds
  // of messages ahead, took 5 s to plan (on 4 ranks sharing 2 cores, 36 s). A rank sharing its
  // core lets the first few of each kind in: a short piece ready later may fit a gap in the
  // core's timeline before an earlier, longer one.
  static int threadKind(const Action& ac) { return ac.recvHalf ? 0 : 1; }
  size_t roomOnThread(int r) const { return sleeps_[r] ? 8 : 1; }
  void queueOnThread(int r, Action ac) {
    // Ready: a local step once its dependencies are done, a receiving half once its data is in too.
    ac.threadKey = ac.recvHalf ? std::max(ac.arrival, ready_[r][ac.b.step]) : ready_[r][ac.a.step];
    const double key = ac.threadKey;
    auto& queued = threadQueued_[r][threadKind(ac)];
    if (queued.size() < roomOnThread(r) || key < *queued.rbegin()) {  // among the first ready: in
      queued.insert(key);
      push(earliest(ac), ac);
    } else {
      threadWaiting_[r][threadKind(ac)].push({key, pushed_++, ac});
    }
  }
  void leaveThread(int r, const Action& ac) {
    auto& queued = threadQueued_[r][threadKind(ac)];
    auto& waiting = threadWaiting_[r][threadKind(ac)];
    queued.erase(queued.find(ac.threadKey));
    if (waiting.empty() || queued.size() >= roomOnThread(r)) return;
    const Action next = waiting.top().action;
    waiting.pop();
    queued.insert(next.threadKey);
    push(earliest(next), next);
  }

  void finishMessage(const Action& ac) {
    std::pair<int, int> pair{ac.a.rank, ac.b.rank};
    ++nextMatch_[pair];
    matchedInFlight_[pair] = false;
    tryMatch(pair);
  }

  void complete(StepRef ref, double end) {
    done_[ref.rank][ref.step] = true;
    if (const auto& st = s_[ref.rank].steps[ref.step]; st.kind == StepKind::Recv || st.kind == StepKind::RecvReduce) {
      --recvsPosted_[ref.rank];
      --recvsFrom_[{ref.rank, st.peer}];
    }
    for (uint32_t nxt : succ_[ref.rank][ref.step]) {
      ready_[ref.rank][nxt] = std::max(ready_[ref.rank][nxt], end);
      if (--left_[ref.rank][nxt] == 0) enable(ref.rank, nxt);
    }
  }

  // The rank's buffers fit its share of the cache.
  bool inCache(int r) const { return footprint_ && static_cast<double>(footprint_) <= cacheShare_[r]; }
  static double perByte(size_t bytes, double gbps) { return usFor(static_cast<double>(bytes), gbps); }
  // A rank in cache has memScale 1; beyond, its working set scales the memory rates.
  double copyRate(bool hot, int rank) const { return t_.copyRate(hot) * memScale_[rank]; }
  double reduceRate(bool hot, int rank) const { return t_.reduceRate(hot, low_) * memScale_[rank]; }

  Result<Estimate> finish() const {
    Estimate e;
    int last = 0;
    for (int r = 0; r < w_.nranks(); ++r) {
      if (threadFree_[r] > threadFree_[last]) last = r;
      e.shmBytes = std::max(e.shmBytes, sent_[r][0]);
      e.tcpBytes = std::max(e.tcpBytes, sent_[r][1]);
      e.messages = std::max(e.messages, sent_[r][2]);
    }
    e.us = w_.nranks() ? t_.opUs + threadFree_[last] : 0;
    std::vector<double> coreWork(coreBusy_.size(), 0);  // its ranks' thread work
    for (int r = 0; r < w_.nranks(); ++r)
      for (double c : busy_[r]) coreWork[coreOf_[r]] += c;
    e.busiestCoreUs = coreWork.empty() ? 0 : *std::max_element(coreWork.begin(), coreWork.end());
    const auto& b = busy_.empty() ? std::array<double, kNumCats>{} : busy_[last];
    e.bottleneck = kCatNames[std::max_element(b.begin(), b.end()) - b.begin()];
    return e;
  }

  const Tuning& t_;
  const Placement& w_;
  const std::vector<sched::Schedule>& s_;
  bool low_;  // 16- and 8-bit float reductions
  size_t footprint_;           // bytes of one rank's buffers
  std::vector<double> cacheShare_;  // per rank: bytes of cache it may count on (0: unknown)
  std::vector<double> memScale_;  // per rank: memory rates at its working set / at kMemoryRefBytes (1 in cache)
  std::vector<double> linkScale_;  // per rank: link rates at its host's working set / at kLinkRefBytes (1 in cache)
  std::vector<double> threadFree_;
  std::vector<int> coreOf_;  // per rank: its core (its own rank index where it has one to itself)
  std::vector<CoreTimeline> coreBusy_;  // per core shared by ranks (index coreOf_): the work placed on it
  std::vector<double> localUntil_;  // per rank: when its last local step (copy, reduction) ends
  std::vector<int> localEnabled_;   // per rank: local steps enabled and not yet run
  // per rank and kind (threadKind): its thread's work not yet in queue_, and the keys of that which is
  std::vector<std::array<std::priority_queue<Entry, std::vector<Entry>, std::greater<>>, 2>> threadWaiting_;
  std::vector<std::array<std::multiset<double>, 2>> threadQueued_;
  double now_ = 0;                  // start of the action last committed
  std::vector<bool> sleeps_;
  std::vector<double> tcpSendUntil_, tcpRecvUntil_;  // per rank: when its tcp messages out and in end
  std::vector<int> recvsPosted_;  // per rank: receives enabled and not yet complete
  std::map<std::pair<int, int>, int> recvsFrom_;  // (rank, peer): the same, from that peer
  std::vector<double> nicShare_;  // GB/s of its host's NICs per local rank (1e30: unknown)
  std::vector<std::vector<double>> ready_;
  std::vector<std::vector<uint32_t>> left_;
  std::vector<std::vector<bool>> done_;
  std::vector<std::vector<std::vector<uint32_t>>> succ_;
  std::vector<std::array<double, kNumCats>> busy_;
  std::vector<std::array<uint64_t, 3>> sent_;  // shm bytes, tcp bytes, messages
  std::map<std::pair<int, int>, std::vector<uint32_t>> sends_, recvs_;
  std::map<std::pair<int, int>, std::set<uint32_t>> sendEnabled_, recvEnabled_;
  std::map<std::pair<int, int>, Action> early_;  // (rank, receive step): a message in before its receive was posted
  std::map<std::pair<int, int>, size_t> parked_;  // (sender, receiver): bytes of such messages
  std::map<std::pair<int, int>, size_t> nextMatch_;
  std::map<std::pair<int, int>, bool> matchedInFlight_;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> queue_;
  uint64_t pushed_ = 0;
  std::vector<uint32_t> joins_;
  size_t joined_ = 0;  // joins done (isJoin): never queued
  void push(double start, const Action& ac) { queue_.push({start, pushed_++, ac}); }
};

}  // namespace

Result<Estimate> detail::replaySchedules(const Tuning& t, const Placement& where,
                                         const std::vector<sched::Schedule>& perRank, bool lowPrecision,
                                         size_t footprint, std::vector<uint32_t> joins) {
  return Replay(t, where, perRank, lowPrecision, footprint, std::move(joins)).run();
}

}  // namespace loom::cost

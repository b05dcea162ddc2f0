// The cost model's front: the placement, each rank's schedule built and replayed (replay.cpp),
// once or twice back to back for a loop, and the choice among the candidates.
#include "cost/model.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/params.hpp"
#include "cost/replay.hpp"
#include "transport/shm_fragments.hpp"  // header-only: the ring sizes the transport rounds to

namespace loom::cost {

int Placement::numHosts() const {
  return hostOf.empty() ? 0 : *std::max_element(hostOf.begin(), hostOf.end()) + 1;
}

Placement Placement::singleHost(int nranks, int cores) {
  Placement p;
  p.hostOf.assign(nranks, 0);
  p.coresOfHost = {std::max(cores, 1)};
  return p;
}

Placement Placement::blocks(int nranks, int hosts, int cores) {
  Placement p;
  hosts = std::clamp(hosts, 1, std::max(nranks, 1));
  for (int r = 0; r < nranks; ++r) p.hostOf.push_back(static_cast<int>(static_cast<long>(r) * hosts / nranks));
  p.coresOfHost.assign(hosts, std::max(cores, 1));
  return p;
}

bool Placement::crowdedOneHost() const {
  return numHosts() == 1 && !coresOfHost.empty() && nranks() > coresOfHost[0];
}

bool Placement::boardFits(algo::Coll coll, size_t count, size_t elemSize) const {
  return boardBytes && !tcpOnly && numHosts() == 1 && nranks() > 1 && algo::boardImplements(coll) &&
         algo::boardPostBytes(coll, count, elemSize, nranks()) <= boardBytes;
}

void Placement::readTransportParams() {
  tcpOnly = params::getString("LOOM_TRANSPORT") == "tcp";
  boardBytes = params::getInt("LOOM_SHM_BOARD_DEPTH") > 0 ? params::getBytes("LOOM_SHM_BOARD_BYTES") : 0;
  shmSlotBytes = transport::shmSlotBytes(params::getBytes("LOOM_SHM_SLOT_BYTES"));
  shmSlots = static_cast<int>(std::max<int64_t>(2, params::getInt("LOOM_SHM_SLOTS")));
  // 0 leaves the kernel's buffers, which autotune up to its tcp_wmem limit (4 MiB by default).
  tcpBufferBytes = params::getBytes("LOOM_TCP_BUFFER_BYTES");
  if (tcpBufferBytes == 0) tcpBufferBytes = 4 << 20;
  shmCmaBytes = params::getBytes("LOOM_SHM_CMA_BYTES");
}

std::vector<size_t> chunkCandidates(size_t base) { return {base / 4, base, base * 4}; }

bool usesChunks(algo::Algo a) { return a == algo::Algo::Ring || algo::algoName(a) == "hier"; }

namespace {

// The schedule run twice back to back, as a blocking call in a loop runs: the second call's
// first steps wait for the first call's last ones (its sinks: once they are done, all are).
// The join between them is step s.steps.size().
sched::Schedule twice(const sched::Schedule& s) {
  sched::Schedule out = s;
  const auto n = static_cast<uint32_t>(s.steps.size());
  std::vector<bool> hasDependent(n, false);
  for (uint32_t d : s.deps) hasDependent[d] = true;
  std::vector<uint32_t> sinks;
  for (uint32_t i = 0; i < n; ++i)
    if (!hasDependent[i]) sinks.push_back(i);
  // Through one free step (the replay's join; a copy of nothing, should anything else read it) rather
  // than each first step on each last: a 2-rank ring allreduce of 1 GiB has thousands of both
  // (16 million dependencies, 1.3 s).
  const uint32_t join = out.add(sched::copy(sched::out(0, 0), sched::out(0, 0)), sinks);
  std::vector<uint32_t> deps;
  for (const sched::Step& st : s.steps) {
    deps.clear();
    for (uint32_t d = 0; d < st.numDeps; ++d) deps.push_back(s.deps[st.firstDep + d] + n + 1);
    if (!st.numDeps) deps.push_back(join);
    out.add(st, deps);
  }
  return out;
}

// One rank's buffers: input, output and scratch (the largest rank's).
size_t footprintOf(const std::vector<sched::Schedule>& perRank) {
  size_t footprint = 0;
  for (const auto& sc : perRank) {
    auto ext = [&](sched::Buf b) {
      size_t hi = 0;
      for (const auto& st : sc.steps)
        for (const sched::Span& sp : {st.src, st.dst})
          if (sp.buf == b && sp.bytes) hi = std::max(hi, sp.offset + sp.bytes);
      return hi;
    };
    footprint = std::max(footprint, ext(sched::Buf::Input) + ext(sched::Buf::Output) + sc.scratchBytes);
  }
  return footprint;
}

}  // namespace

Result<Estimate> replay(const Tuning& t, const Placement& where, const std::vector<sched::Schedule>& perRank,
                        bool lowPrecision) {
  if (static_cast<int>(perRank.size()) != where.nranks() || perRank.empty())
    return invalidArgument(fmt::format("cost model: {} schedules for {} ranks", perRank.size(), where.nranks()));
  return detail::replaySchedules(t, where, perRank, lowPrecision, footprintOf(perRank));
}

Result<Estimate> estimate(const Tuning& t, const Placement& where, algo::CollArgs shape, algo::Algo a,
                          bool lowPrecision, bool loop) {
  const int n = where.nranks();
  if (n < 1) return invalidArgument("cost model: no ranks");
  if (a == algo::Algo::Board) return estimateBoard(t, where, shape, lowPrecision, loop);
  shape.nranks = n;
  shape.hostOf = where.hostOf;
  shape.neighboursFirst = where.crowdedOneHost();
  std::vector<sched::Schedule> perRank;
  perRank.reserve(n);
  for (int r = 0; r < n; ++r) {
    shape.rank = r;
    auto s = algo::makeSchedule(a, shape);
    if (!s.isOk()) return s.takeStatus();
    perRank.push_back(std::move(s.value()));
  }
  const size_t footprint = footprintOf(perRank);
  auto e = detail::replaySchedules(t, where, perRank, lowPrecision, footprint);
  if (!e.isOk()) return e;
  if (loop) {  // what a second call adds (each replay counts one call's op_us)
    std::vector<sched::Schedule> looped;
    std::vector<uint32_t> joins;
    looped.reserve(n);
    for (const auto& s : perRank) {
      joins.push_back(static_cast<uint32_t>(s.steps.size()));
      looped.push_back(twice(s));
    }
    auto two = detail::replaySchedules(t, where, looped, lowPrecision, footprint, std::move(joins));
    if (!two.isOk()) return two.takeStatus();
    // ... but no less than the busiest core's work per call: what two calls add to one misses
    // what a long pipeline fill hides (a 4-rank chain broadcast of 256 KiB on 2 cores: 27 us
    // against 40 of one core's work; measured 47).
    e.value().loopUs = t.opUs + std::max({0.0, two.value().us - e.value().us, two.value().busiestCoreUs / 2});
  }
  e.value().algo = a;
  e.value().chunkBytes = usesChunks(a) ? shape.chunkBytes : 0;
  return e;
}

Result<Choice> chooseChunk(const Tuning& t, const Placement& where, const algo::CollArgs& shape, algo::Algo a,
                           const std::vector<size_t>& chunks, bool lowPrecision) {
  Choice c;
  const std::vector<size_t> tries = usesChunks(a) && !chunks.empty() ? chunks : std::vector<size_t>{shape.chunkBytes};
  for (size_t chunk : tries) {
    algo::CollArgs s = shape;
    s.chunkBytes = chunk;
    auto e = estimate(t, where, s, a, lowPrecision, true);
    if (!e.isOk()) return e.takeStatus();
    // A chunk larger than the data changes nothing: list such a twin once.
    const Estimate* last = c.candidates.empty() ? nullptr : &c.candidates.back();
    if (last && last->us == e->us && last->messages == e->messages) continue;
    c.add(e.value());
  }
  return c;
}

Result<Choice> choose(const Tuning& t, const Placement& where, const algo::CollArgs& shape,
                      const std::vector<size_t>& chunks, bool lowPrecision) {
  Choice c;
  for (algo::Algo a : algo::algorithmsFor(shape.coll)) {
    if (algo::algoName(a) == "hier" && where.numHosts() < 2) continue;  // same as its intra-host part
    auto one = chooseChunk(t, where, shape, a, chunks, lowPrecision);
    if (!one.isOk()) return one.takeStatus();
    for (const Estimate& e : one->candidates) c.add(e);
  }
  if (where.boardFits(shape.coll, shape.count, shape.elemSize)) {
    auto e = estimate(t, where, shape, algo::Algo::Board, lowPrecision, true);
    if (!e.isOk()) return e.takeStatus();
    c.add(e.value());
  }
  if (c.candidates.empty())
    return invalidArgument(fmt::format("cost model: no algorithm implements {}", algo::collName(shape.coll)));
  return c;
}

}  // namespace loom::cost

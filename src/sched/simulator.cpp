// The single-process simulator (see simulator.hpp). Shares no code with the executor on
// purpose: it is the reference the executor is tested against.
#include "sched/simulator.hpp"

#include <fmt/format.h>

#include <cstring>
#include <random>
#include <unordered_map>

namespace loom::sched {

namespace {



struct Rank {
  std::vector<unsigned char> scratch;
  std::vector<uint32_t> depsLeft, chanNext, depOff, depList, partner;
  std::vector<int> partnerRank;
  std::vector<uint8_t> prevPosted, posted;
};

// An enabled action: run/post step (rank, step).
struct Action {
  int rank;
  uint32_t step;
};

}  // namespace

Status simulate(const std::vector<Schedule>& all, std::vector<RankBuffers>& bufs, mem::ReduceFn reduce,
                size_t elemSize, uint64_t seed) {
  const int n = static_cast<int>(all.size());
  if (bufs.size() != all.size()) return invalidArgument("simulate: one RankBuffers per schedule needed");
  if (elemSize == 0) return invalidArgument("simulate: element size 0");
  std::vector<Rank> rk(n);
  auto ptr = [&](int r, const Span& s) -> unsigned char* {
    switch (s.buf) {
      case Buf::Input: return static_cast<unsigned char*>(bufs[r].input) + s.offset;
      case Buf::Output: return static_cast<unsigned char*>(bufs[r].output) + s.offset;
      case Buf::Scratch: return rk[r].scratch.data() + s.offset;
    }
    return nullptr;
  };
  auto inBounds = [&](int r, const Span& s) {
    size_t lim = s.buf == Buf::Input ? bufs[r].inputBytes : s.buf == Buf::Output ? bufs[r].outputBytes
                                                                                 : all[r].scratchBytes;
    return s.offset <= lim && s.bytes <= lim - s.offset && (s.bytes == 0 || ptr(r, s) != nullptr);
  };
  // Structure: bounds, dependents, per-channel posting order, FIFO partners.
  std::unordered_map<int64_t, std::vector<uint32_t>> sendQ, recvQ;  // (from*n + to) -> steps
  for (int r = 0; r < n; ++r) {
    const Schedule& s = all[r];
    Rank& R = rk[r];
    const size_t m = s.steps.size();
    R.scratch.assign(s.scratchBytes, 0xA5);
    R.depsLeft.resize(m);
    R.chanNext.assign(m, kNoStep);
    R.prevPosted.assign(m, 1);
    R.posted.assign(m, 0);
    R.partner.assign(m, kNoStep);
    R.partnerRank.assign(m, -1);
    R.depOff.assign(m + 1, 0);
    std::unordered_map<int64_t, uint32_t> lastOnChannel;
    for (uint32_t i = 0; i < m; ++i) {
      const Step& st = s.steps[i];
      const bool src = st.kind != StepKind::Recv, dst = st.kind != StepKind::Send;
      if ((src && !inBounds(r, st.src)) || (dst && !inBounds(r, st.dst)))
        return invalidArgument(fmt::format("simulate: rank {} step {} span out of bounds", r, i));
      if (st.kind != StepKind::Send && st.kind != StepKind::Recv && st.src.bytes != st.dst.bytes)
        return invalidArgument(fmt::format("simulate: rank {} step {} source and destination sizes differ", r, i));
      if ((st.kind == StepKind::Reduce || st.kind == StepKind::RecvReduce) && st.dst.bytes % elemSize)
        return invalidArgument(fmt::format("simulate: rank {} step {} reduces a partial element", r, i));
      if (st.firstDep > s.deps.size() || st.numDeps > s.deps.size() - st.firstDep)
        return invalidArgument(fmt::format("simulate: rank {} step {} dependency list out of range", r, i));
      R.depsLeft[i] = st.numDeps;
      for (uint32_t k = 0; k < st.numDeps; ++k) {
        uint32_t d = s.deps[st.firstDep + k];
        if (d >= i) return invalidArgument(fmt::format("simulate: rank {} step {} depends on later step {}", r, i, d));
        R.depOff[d + 1]++;
      }
      if (!isMessage(st.kind)) continue;
      if (st.peer < 0 || st.peer >= n || st.peer == r)
        return invalidArgument(fmt::format("simulate: rank {} step {} bad peer {}", r, i, st.peer));
      const bool isSend = st.kind == StepKind::Send;
      int64_t key = int64_t(st.peer) * 2 + (isSend ? 1 : 0);
      if (auto it = lastOnChannel.find(key); it != lastOnChannel.end()) {
        R.chanNext[it->second] = i;
        R.prevPosted[i] = 0;
      }
      lastOnChannel[key] = i;
      if (isSend) sendQ[int64_t(r) * n + st.peer].push_back(i);
      else recvQ[int64_t(st.peer) * n + r].push_back(i);
    }
    for (size_t i = 0; i < m; ++i) R.depOff[i + 1] += R.depOff[i];
    R.depList.resize(R.depOff[m]);
    std::vector<uint32_t> fill(R.depOff.begin(), R.depOff.end() - 1);
    for (uint32_t i = 0; i < m; ++i)
      for (uint32_t k = 0; k < s.steps[i].numDeps; ++k) R.depList[fill[s.deps[s.steps[i].firstDep + k]]++] = i;
  }
  for (auto& [key, sends] : sendQ) {
    const int from = static_cast<int>(key / n), to = static_cast<int>(key % n);
    auto it = recvQ.find(key);
    const size_t nr = it == recvQ.end() ? 0 : it->second.size();
    if (nr != sends.size())
      return invalidArgument(fmt::format("simulate: rank {} sends {} messages to rank {}, which receives {}", from,
                                         sends.size(), to, nr));
    for (size_t k = 0; k < sends.size(); ++k) {
      uint32_t si = sends[k], ri = it->second[k];
      if (all[from].steps[si].src.bytes != all[to].steps[ri].dst.bytes)
        return invalidArgument(fmt::format("simulate: rank {} step {} sends {} bytes to rank {} step {} expecting {}",
                                           from, si, all[from].steps[si].src.bytes, to, ri,
                                           all[to].steps[ri].dst.bytes));
      rk[from].partner[si] = ri;
      rk[from].partnerRank[si] = to;
      rk[to].partner[ri] = si;
      rk[to].partnerRank[ri] = from;
    }
  }
  for (auto& [key, recvs] : recvQ)
    if (!sendQ.count(key))
      return invalidArgument(fmt::format("simulate: rank {} receives {} messages from rank {}, which sends none",
                                         key % n, recvs.size(), key / n));

  std::mt19937_64 rng(seed);
  std::vector<Action> enabled;  // ready local steps, ready-to-post messages, and matched pairs (as the send)
  std::vector<unsigned char> tmp;
  size_t remaining = 0;
  auto tryReady = [&](int r, uint32_t i) {
    if (rk[r].depsLeft[i] == 0 && rk[r].prevPosted[i] && !rk[r].posted[i]) enabled.push_back({r, i});
  };
  auto complete = [&](int r, uint32_t i) {
    --remaining;
    for (uint32_t k = rk[r].depOff[i]; k < rk[r].depOff[i + 1]; ++k) {
      uint32_t j = rk[r].depList[k];
      if (--rk[r].depsLeft[j] == 0) tryReady(r, j);
    }
  };
  for (int r = 0; r < n; ++r) {
    remaining += all[r].steps.size();
    for (uint32_t i = 0; i < all[r].steps.size(); ++i) tryReady(r, i);
  }
  // A pair is marked as a transfer action by posting its send with the high bit of step set.
  constexpr uint32_t kTransfer = 0x80000000u;
  while (!enabled.empty()) {
    size_t pick = std::uniform_int_distribution<size_t>(0, enabled.size() - 1)(rng);
    Action act = enabled[pick];
    enabled[pick] = enabled.back();
    enabled.pop_back();
    const int r = act.rank;
    if (act.step & kTransfer) {  // move the data of a matched pair: r is the sender
      const uint32_t si = act.step & ~kTransfer, ri = rk[r].partner[si];
      const int to = rk[r].partnerRank[si];
      const Step& snd = all[r].steps[si];
      const Step& rcv = all[to].steps[ri];
      const size_t bytes = snd.src.bytes;
      if (bytes) {
        tmp.assign(ptr(r, snd.src), ptr(r, snd.src) + bytes);
        if (rcv.kind == StepKind::Recv) std::memcpy(ptr(to, rcv.dst), tmp.data(), bytes);
        else reduce(ptr(to, rcv.dst), ptr(to, rcv.src), tmp.data(), bytes / elemSize);
      }
      complete(r, si);
      complete(to, ri);
      continue;
    }
    const uint32_t i = act.step;
    const Step& st = all[r].steps[i];
    rk[r].posted[i] = 1;
    if (!isMessage(st.kind)) {
      if (st.src.bytes && ptr(r, st.src) != ptr(r, st.dst)) {
        if (st.kind == StepKind::Copy) std::memmove(ptr(r, st.dst), ptr(r, st.src), st.src.bytes);
        else reduce(ptr(r, st.dst), ptr(r, st.dst), ptr(r, st.src), st.src.bytes / elemSize);
      } else if (st.kind == StepKind::Reduce && st.src.bytes) {
        reduce(ptr(r, st.dst), ptr(r, st.dst), ptr(r, st.src), st.src.bytes / elemSize);
      }
      complete(r, i);
      continue;
    }
    if (uint32_t nx = rk[r].chanNext[i]; nx != kNoStep) {
      rk[r].prevPosted[nx] = 1;
      tryReady(r, nx);
    }
    const int p = rk[r].partnerRank[i];
    const uint32_t pi = rk[r].partner[i];
    if (rk[p].posted[pi]) enabled.push_back(st.kind == StepKind::Send ? Action{r, i | kTransfer} : Action{p, pi | kTransfer});
  }
  if (remaining)
    return invalidArgument(fmt::format("simulate: deadlock with {} steps unfinished (run validate() for details)",
                                       remaining));
  return Status::ok();
}

}  // namespace loom::sched

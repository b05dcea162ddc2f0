// Schedule validation: structural checks, FIFO message matching, a deadlock search by greedy
// execution (linear in steps and dependencies), and a race search per rank over the transitive
// closure of its dependencies (quadratic; meant for tests and `loom plan`, not the hot path).
#include "sched/validator.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <unordered_map>

namespace loom::sched {

namespace {


const char* kindName(StepKind k) {
  switch (k) {
    case StepKind::Send: return "Send";
    case StepKind::Recv: return "Recv";
    case StepKind::RecvReduce: return "RecvReduce";
    case StepKind::Copy: return "Copy";
    case StepKind::Reduce: return "Reduce";
  }
  return "?";
}
const char* bufName(Buf b) { return b == Buf::Input ? "Input" : b == Buf::Output ? "Output" : "Scratch"; }
std::string spanText(const Span& s) { return fmt::format("{}[{}, +{})", bufName(s.buf), s.offset, s.bytes); }
bool readsSrc(StepKind k) { return k != StepKind::Recv; }
bool writesDst(StepKind k) { return k != StepKind::Send; }

// Input, Output and Scratch mapped to address spaces: aliased user buffers share space 0.
struct Mapped {
  int space;
  int64_t lo, hi;
};
struct AddressMap {
  const BufferSizes& sz;
  Mapped map(const Span& s) const {
    const int64_t off = static_cast<int64_t>(s.offset), len = static_cast<int64_t>(s.bytes);
    if (s.buf == Buf::Scratch) return {2, off, off + len};
    if (s.buf == Buf::Input) return {0, off, off + len};
    if (sz.aliased) return {0, off + sz.outputOffset, off + sz.outputOffset + len};
    return {1, off, off + len};
  }
};

Status checkSteps(int r, const Schedule& s, const BufferSizes& sz, int n) {
  auto limit = [&](Buf b) { return b == Buf::Input ? sz.inputBytes : b == Buf::Output ? sz.outputBytes : s.scratchBytes; };
  auto inBounds = [&](uint32_t i, const Span& sp) -> Status {
    size_t lim = limit(sp.buf);
    if (sp.offset > lim || sp.bytes > lim - sp.offset)
      return invalidArgument(fmt::format("rank {} step {} ({}): span {} out of bounds ({} has {} bytes)", r, i,
                                         kindName(s.steps[i].kind), spanText(sp), bufName(sp.buf), lim));
    return Status::ok();
  };
  AddressMap am{sz};
  for (uint32_t i = 0; i < s.steps.size(); ++i) {
    const Step& st = s.steps[i];
    if (st.firstDep > s.deps.size() || st.numDeps > s.deps.size() - st.firstDep)
      return invalidArgument(fmt::format("rank {} step {}: dependency list out of range", r, i));
    for (uint32_t k = 0; k < st.numDeps; ++k)
      if (s.deps[st.firstDep + k] >= i)
        return invalidArgument(fmt::format("rank {} step {}: depends on step {}, which is not earlier", r, i,
                                           s.deps[st.firstDep + k]));
    if (isMessage(st.kind) && (st.peer < 0 || st.peer >= n || st.peer == r))
      return invalidArgument(fmt::format("rank {} step {} ({}): bad peer {}", r, i, kindName(st.kind), st.peer));
    if (readsSrc(st.kind)) LOOM_TRY(inBounds(i, st.src));
    if (writesDst(st.kind)) LOOM_TRY(inBounds(i, st.dst));
    if (st.kind != StepKind::Send && st.kind != StepKind::Recv) {
      if (st.src.bytes != st.dst.bytes)
        return invalidArgument(fmt::format("rank {} step {} ({}): source {} and destination {} differ in size", r, i,
                                           kindName(st.kind), spanText(st.src), spanText(st.dst)));
      Mapped a = am.map(st.src), b = am.map(st.dst);
      if (a.space == b.space && a.lo < b.hi && b.lo < a.hi && a.lo != b.lo)
        return invalidArgument(fmt::format("rank {} step {} ({}): source {} and destination {} partially overlap", r,
                                           i, kindName(st.kind), spanText(st.src), spanText(st.dst)));
    }
  }
  return Status::ok();
}

// partner[r][i]: the matching step (as rank, index) of every message step.
struct Ref {
  int rank = -1;
  uint32_t step = kNoStep;
};

Status matchMessages(const std::vector<Schedule>& all, std::vector<std::vector<Ref>>& partner) {
  const int n = static_cast<int>(all.size());
  std::vector<std::unordered_map<int, std::vector<uint32_t>>> sends(n), recvs(n);
  for (int r = 0; r < n; ++r) {
    partner[r].assign(all[r].steps.size(), Ref{});
    for (uint32_t i = 0; i < all[r].steps.size(); ++i) {
      const Step& st = all[r].steps[i];
      if (st.kind == StepKind::Send) sends[r][st.peer].push_back(i);
      else if (isMessage(st.kind)) recvs[r][st.peer].push_back(i);
    }
  }
  for (int a = 0; a < n; ++a) {
    for (auto& [b, list] : sends[a]) {
      const auto& rl = recvs[b][a];
      for (size_t k = 0; k < list.size(); ++k) {
        const Step& snd = all[a].steps[list[k]];
        if (k >= rl.size())
          return invalidArgument(fmt::format("rank {} step {}: Send of {} bytes to rank {} has no matching receive "
                                             "(message {} to that peer, which posts only {} receives from rank {})",
                                             a, list[k], snd.src.bytes, b, k, rl.size(), a));
        const Step& rcv = all[b].steps[rl[k]];
        if (rcv.dst.bytes != snd.src.bytes)
          return invalidArgument(fmt::format("rank {} step {}: Send of {} bytes to rank {} matches its step {} ({}) "
                                             "of {} bytes",
                                             a, list[k], snd.src.bytes, b, rl[k], kindName(rcv.kind), rcv.dst.bytes));
        partner[a][list[k]] = {b, rl[k]};
        partner[b][rl[k]] = {a, list[k]};
      }
    }
  }
  for (int b = 0; b < n; ++b)
    for (auto& [a, rl] : recvs[b]) {
      size_t sent = sends[a].count(b) ? sends[a][b].size() : 0;
      if (rl.size() > sent)
        return invalidArgument(fmt::format("rank {} step {}: {} from rank {} has no matching send (rank {} sends only "
                                           "{} messages to rank {})",
                                           b, rl[sent], kindName(all[b].steps[rl[sent]].kind), a, a, sent, b));
    }
  return Status::ok();
}

Status findDeadlock(const std::vector<Schedule>& all, const std::vector<std::vector<Ref>>& partner) {
  const int n = static_cast<int>(all.size());
  struct RankState {
    std::vector<uint32_t> depsLeft, chanNext, depOff, depList;  // dependents as CSR
    std::vector<uint8_t> prevPosted, started, done;
  };
  std::vector<RankState> st(n);
  std::deque<Ref> ready;
  for (int r = 0; r < n; ++r) {
    const Schedule& s = all[r];
    const size_t m = s.steps.size();
    RankState& rs = st[r];
    rs.depsLeft.resize(m);
    rs.chanNext.assign(m, kNoStep);
    rs.prevPosted.assign(m, 1);
    rs.started.assign(m, 0);
    rs.done.assign(m, 0);
    rs.depOff.assign(m + 1, 0);
    for (size_t i = 0; i < m; ++i) {
      rs.depsLeft[i] = s.steps[i].numDeps;
      for (uint32_t k = 0; k < s.steps[i].numDeps; ++k) rs.depOff[s.deps[s.steps[i].firstDep + k] + 1]++;
    }
    for (size_t i = 0; i < m; ++i) rs.depOff[i + 1] += rs.depOff[i];
    rs.depList.resize(rs.depOff[m]);
    std::vector<uint32_t> fill(rs.depOff.begin(), rs.depOff.end() - 1);
    std::unordered_map<int64_t, uint32_t> lastOnChannel;  // (peer, direction) -> step
    for (uint32_t i = 0; i < m; ++i) {
      const Step& step = s.steps[i];
      for (uint32_t k = 0; k < step.numDeps; ++k) rs.depList[fill[s.deps[step.firstDep + k]]++] = i;
      if (!isMessage(step.kind)) continue;
      int64_t key = int64_t(step.peer) * 2 + (step.kind == StepKind::Send ? 1 : 0);
      auto it = lastOnChannel.find(key);
      if (it != lastOnChannel.end()) {
        rs.chanNext[it->second] = i;
        rs.prevPosted[i] = 0;
      }
      lastOnChannel[key] = i;
    }
    for (uint32_t i = 0; i < m; ++i)
      if (rs.depsLeft[i] == 0 && rs.prevPosted[i]) ready.push_back({r, i});
  }
  auto tryReady = [&](int r, uint32_t i) {
    if (st[r].depsLeft[i] == 0 && st[r].prevPosted[i] && !st[r].started[i]) ready.push_back({r, i});
  };
  auto complete = [&](int r, uint32_t i) {
    st[r].done[i] = 1;
    for (uint32_t k = st[r].depOff[i]; k < st[r].depOff[i + 1]; ++k) {
      uint32_t j = st[r].depList[k];
      if (--st[r].depsLeft[j] == 0) tryReady(r, j);
    }
  };
  while (!ready.empty()) {
    auto [r, i] = ready.front();
    ready.pop_front();
    if (st[r].started[i]) continue;
    st[r].started[i] = 1;
    const Step& step = all[r].steps[i];
    if (!isMessage(step.kind)) {
      complete(r, i);
      continue;
    }
    if (uint32_t nx = st[r].chanNext[i]; nx != kNoStep) {
      st[r].prevPosted[nx] = 1;
      tryReady(r, nx);
    }
    Ref p = partner[r][i];
    if (st[p.rank].started[p.step]) {
      complete(r, i);
      complete(p.rank, p.step);
    }
  }
  for (int r = 0; r < n; ++r) {
    size_t stuck = std::count(st[r].done.begin(), st[r].done.end(), 0);
    if (!stuck) continue;
    // Name a step that is blocked on a peer, not merely on its own dependencies.
    for (uint32_t i = 0; i < all[r].steps.size(); ++i) {
      if (st[r].done[i] || st[r].depsLeft[i]) continue;
      const Step& step = all[r].steps[i];
      Ref p = partner[r][i];
      if (st[r].started[i])
        return invalidArgument(fmt::format("deadlock: rank {} step {} ({} {} rank {}) waits for rank {} step {} ({}), "
                                           "which never starts ({} steps of rank {} unfinished)",
                                           r, i, kindName(step.kind), step.kind == StepKind::Send ? "to" : "from",
                                           step.peer, p.rank, p.step, kindName(all[p.rank].steps[p.step].kind), stuck,
                                           r));
      return invalidArgument(fmt::format("deadlock: rank {} step {} ({} {} rank {}) cannot be posted: an earlier "
                                         "message on that channel never starts ({} steps of rank {} unfinished)",
                                         r, i, kindName(step.kind), step.kind == StepKind::Send ? "to" : "from",
                                         step.peer, stuck, r));
    }
    return invalidArgument(fmt::format("deadlock: rank {} has {} unfinished steps", r, stuck));
  }
  return Status::ok();
}

Status findRaces(int r, const Schedule& s, const BufferSizes& sz) {
  const size_t m = s.steps.size(), words = (m + 63) / 64;
  std::vector<uint64_t> anc(m * words, 0);  // anc[i]: every step with a dependency path to i
  for (size_t i = 0; i < m; ++i) {
    const Step& st = s.steps[i];
    uint64_t* row = &anc[i * words];
    for (uint32_t k = 0; k < st.numDeps; ++k) {
      uint32_t d = s.deps[st.firstDep + k];
      const uint64_t* drow = &anc[d * words];
      for (size_t w = 0; w <= d / 64; ++w) row[w] |= drow[w];
      row[d / 64] |= uint64_t(1) << (d % 64);
    }
  }
  auto ordered = [&](uint32_t a, uint32_t b) {
    if (a > b) std::swap(a, b);
    return (anc[b * words + a / 64] >> (a % 64)) & 1;
  };
  struct Access {
    Mapped at;
    uint32_t step;
    bool write;
    const Span* span;
  };
  AddressMap am{sz};
  std::vector<Access> acc;
  for (uint32_t i = 0; i < m; ++i) {
    const Step& st = s.steps[i];
    Mapped src = am.map(st.src), dst = am.map(st.dst);
    const bool same = src.space == dst.space && src.lo == dst.lo && st.src.bytes == st.dst.bytes;
    if (st.kind == StepKind::Copy && same) continue;  // the executor skips it
    if (readsSrc(st.kind) && st.src.bytes && !(same && writesDst(st.kind))) acc.push_back({src, i, false, &st.src});
    if (writesDst(st.kind) && st.dst.bytes) acc.push_back({dst, i, true, &st.dst});
  }
  std::sort(acc.begin(), acc.end(), [](const Access& a, const Access& b) {
    return a.at.space != b.at.space ? a.at.space < b.at.space : a.at.lo < b.at.lo;
  });
  std::vector<const Access*> active;
  for (const Access& x : acc) {
    std::erase_if(active, [&](const Access* y) { return y->at.space != x.at.space || y->at.hi <= x.at.lo; });
    for (const Access* y : active) {
      if ((x.write || y->write) && x.step != y->step && !ordered(x.step, y->step)) {
        const Access& a = x.step < y->step ? x : *y;
        const Access& b = x.step < y->step ? *y : x;
        return invalidArgument(fmt::format("race: rank {} steps {} ({} {} {}) and {} ({} {} {}) touch overlapping bytes "
                                           "with no dependency path between them",
                                           r, a.step, kindName(s.steps[a.step].kind), a.write ? "writes" : "reads",
                                           spanText(*a.span), b.step, kindName(s.steps[b.step].kind),
                                           b.write ? "writes" : "reads", spanText(*b.span)));
      }
    }
    active.push_back(&x);
  }
  return Status::ok();
}

}  // namespace

Status validate(const std::vector<Schedule>& perRank, const std::vector<BufferSizes>& sizes,
                const ValidateOptions& options) {
  const int n = static_cast<int>(perRank.size());
  if (sizes.size() != perRank.size())
    return invalidArgument(fmt::format("{} schedules but {} buffer sizes", perRank.size(), sizes.size()));
  for (int r = 0; r < n; ++r) LOOM_TRY(checkSteps(r, perRank[r], sizes[r], n));
  std::vector<std::vector<Ref>> partner(n);
  LOOM_TRY(matchMessages(perRank, partner));
  LOOM_TRY(findDeadlock(perRank, partner));
  if (options.checkRaces)
    for (int r = 0; r < n; ++r)
      if (perRank[r].steps.size() <= options.raceCheckMaxSteps) LOOM_TRY(findRaces(r, perRank[r], sizes[r]));
  return Status::ok();
}

}  // namespace loom::sched

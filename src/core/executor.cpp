#include "core/executor.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "mem/copy.hpp"

namespace loom::core {

using sched::StepKind;

ScheduleRun::ScheduleRun(const PreparedSchedule& prepared, RunBuffers buffers, transport::Fabric& fabric,
                         mem::ReduceFn reduce, size_t elemSize, RunMemory& memory)
    : prepared_(prepared), buffers_(buffers), fabric_(fabric), reduce_(reduce), elemSize_(elemSize), m_(memory) {
  const size_t steps = prepared.schedule.steps.size();
  m_.depsLeft.assign(prepared.initialDeps.begin(), prepared.initialDeps.end());
  m_.ready.assign(steps, 0);
  // Reset in place: the completions keep their storage from call to call.
  m_.completions.resize(steps);
  for (auto& c : m_.completions) {
    c.done = false;
    if (!c.status.isOk()) c.status = Status{};
  }
  m_.sendHead.assign(prepared.sendsTo.size(), 0);
  m_.recvHead.assign(prepared.recvsFrom.size(), 0);
  m_.inflight.clear();
  m_.localQueue.clear();
  for (uint32_t r : prepared_.roots) becomeReady(r);
  drainLocal();
}

ScheduleRun::~ScheduleRun() {
  if (!m_.inflight.empty()) abandon(internalError(fmt::format("schedule '{}' abandoned with {} messages posted",
                                                            prepared_.schedule.algorithm, m_.inflight.size())));
}

void ScheduleRun::abandon(const Status& why) {
  if (m_.inflight.empty()) return;
  fabric_.cancelPending(why);
  m_.inflight.clear();
  fail(why);
}

uint8_t* ScheduleRun::ptr(const sched::Span& s) const {
  uint8_t* base = s.buf == sched::Buf::Input ? buffers_.input : s.buf == sched::Buf::Output ? buffers_.output
                                                                                           : buffers_.scratch;
  // A null base means absolute addressing (point-to-point groups carry raw pointers in offset).
  return reinterpret_cast<uint8_t*>(reinterpret_cast<uintptr_t>(base) + s.offset);
}

void ScheduleRun::becomeReady(uint32_t step) {
  const auto& st = prepared_.schedule.steps[step];
  m_.ready[step] = 1;
  switch (st.kind) {
    case StepKind::Copy:
    case StepKind::Reduce: m_.localQueue.push_back(step); break;
    case StepKind::Send: postReady(st.peer, true); break;
    case StepKind::Recv:
    case StepKind::RecvReduce: postReady(st.peer, false); break;
  }
}

// Posts the peer's next messages in step order for as long as they are ready.
void ScheduleRun::postReady(int peer, bool sends) {
  const auto& list = sends ? prepared_.sendsTo[peer] : prepared_.recvsFrom[peer];
  uint32_t& head = sends ? m_.sendHead[peer] : m_.recvHead[peer];
  while (head < list.size() && m_.ready[list[head]]) {
    uint32_t idx = list[head++];
    const auto& st = prepared_.schedule.steps[idx];
    if (sends) {
      // The user's input is at rest; scratch and output were (or may have been) written by this
      // run just now, and are read faster through the ring (a 2-rank allreduce's allgather half
      // of 512 KiB: 58 us through the ring, 85 us single copy). Every Output or Scratch send the
      // generators make follows a write to it.
      const bool atRest = st.src.buf == sched::Buf::Input;
      fabric_.postSend(peer, ptr(st.src), st.src.bytes, &m_.completions[idx], atRest, atRest && prepared_.receivesCopy);
    } else {
      transport::RecvSink sink;
      sink.dst = ptr(st.dst);
      sink.elemSize = elemSize_;
      if (st.kind == StepKind::RecvReduce) {
        sink.operand = ptr(st.src);
        sink.reduce = reduce_;
      }
      fabric_.postRecv(peer, st.dst.bytes, sink, &m_.completions[idx]);
    }
    m_.inflight.push_back(idx);
  }
}

// Long local work runs in slices with a progress pass between them while messages are in flight,
// so that the peers are not left waiting on this thread: an out-of-place broadcast root copying
// 8 MiB to its output kept its receiver idle for the whole copy.
void ScheduleRun::runLocal(uint32_t step) {
  constexpr size_t kSliceBytes = 256 << 10;  // a multiple of every element size
  const auto& st = prepared_.schedule.steps[step];
  if (isNoOp(st)) return;
  uint8_t* dst = ptr(st.dst);
  const uint8_t* src = ptr(st.src);
  for (size_t pos = 0; pos < st.dst.bytes; pos += kSliceBytes) {
    if (pos > 0 && !m_.inflight.empty()) fabric_.progressStarted();
    const size_t len = std::min(kSliceBytes, st.dst.bytes - pos);
    if (st.kind == StepKind::Copy) mem::copyBytes(dst + pos, src + pos, len);
    else reduce_(dst + pos, dst + pos, src + pos, len / elemSize_);
  }
}

void ScheduleRun::complete(uint32_t step) {
  ++done_;
  for (uint32_t i = prepared_.dependentsStart[step]; i < prepared_.dependentsStart[step + 1]; ++i) {
    uint32_t d = prepared_.dependents[i];
    if (--m_.depsLeft[d] == 0) becomeReady(d);
  }
}

bool ScheduleRun::isNoOp(const sched::Step& st) const { return st.kind == StepKind::Copy && ptr(st.dst) == ptr(st.src); }

bool ScheduleRun::hasLocalWork() const {
  for (uint32_t step : m_.localQueue)
    if (!isNoOp(prepared_.schedule.steps[step])) return true;
  return false;
}

void ScheduleRun::drainLocal() {
  while (!m_.localQueue.empty() && !failed_) {
    uint32_t s = m_.localQueue.back();
    m_.localQueue.pop_back();
    runLocal(s);
    complete(s);
  }
}

void ScheduleRun::fail(Status s) {
  if (!failed_) {
    failed_ = true;
    status_ = std::move(s);
  }
}

bool ScheduleRun::advance() {
  if (finished()) return false;
  // With local work queued the pass is one in the middle of it (progressStarted): a single-copy
  // candidate then leaves the copy to its receiver, this core having work of its own.
  bool moved = hasLocalWork() ? fabric_.progressStarted() : fabric_.progress();
  for (size_t i = 0; i < m_.inflight.size();) {
    uint32_t idx = m_.inflight[i];
    auto& c = m_.completions[idx];
    if (!c.done) {
      ++i;
      continue;
    }
    m_.inflight[i] = m_.inflight.back();
    m_.inflight.pop_back();
    moved = true;
    if (!c.status.isOk()) {
      fail(c.status);
      return true;
    }
    complete(idx);
  }
  drainLocal();
  if (!failed_ && m_.inflight.empty() && done_ < prepared_.schedule.steps.size() && m_.localQueue.empty())
    fail(internalError(fmt::format("schedule '{}' stalled after {} of {} steps", prepared_.schedule.algorithm,
                                   done_, prepared_.schedule.steps.size())));
  return moved;
}

std::string ScheduleRun::pendingSummary() const {
  std::string out;
  for (uint32_t idx : m_.inflight) {
    const auto& st = prepared_.schedule.steps[idx];
    if (!out.empty()) out += ", ";
    bool isSend = st.kind == StepKind::Send;
    out += fmt::format("{} rank {} ({} bytes, step {})", isSend ? "send to" : "recv from", st.peer,
                       isSend ? st.src.bytes : st.dst.bytes, idx);
  }
  return out;
}

std::vector<int> ScheduleRun::pendingPeers() const {
  std::vector<int> peers;
  for (uint32_t idx : m_.inflight) {
    int p = prepared_.schedule.steps[idx].peer;
    bool seen = false;
    for (int q : peers) seen |= q == p;
    if (!seen) peers.push_back(p);
  }
  return peers;
}

}  // namespace loom::core

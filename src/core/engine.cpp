#include "core/engine.hpp"

#include <fmt/format.h>

#include "core/log.hpp"

namespace loom::core {

std::string describeOperation(std::string_view label, uint64_t seq, size_t bytes, std::string_view algorithm) {
  return fmt::format("{} #{} ({} bytes, {})", label, seq, bytes, algorithm);
}

std::string Operation::what() const {
  if (!fixedWhat.empty()) return fixedWhat;
  if (isGroup) return fmt::format("{} #{} ({} operations)", label, seq, bytes);
  const std::string_view algorithm = plan ? std::string_view(plan->schedule.algorithm) : boardCall ? "board" : "?";
  return describeOperation(label, seq, bytes, algorithm);
}

Engine::Engine(transport::Fabric& fabric, int rank, double timeoutSeconds, int spinUs, ProgressBoard* board,
               HangReport report)
    : fabric_(fabric),
      rank_(rank),
      timeoutSeconds_(timeoutSeconds),
      spinUs_(spinUs),
      board_(board),
      report_(std::move(report)) {
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() { drainAndStop(); }

Status Engine::refusal() const {
  if (aborting_) return abortStatus_;
  if (!sticky_.isOk()) return sticky_;
  if (stopping_) return invalidUsage("communicator is being destroyed");
  return {};
}

template <class Run>
bool Engine::inlined(Status* result, const Run& run) {
  // quiet_ is set last by whoever emptied the queue, so a caller that issued nonblocking work
  // before this call sees it cleared until that work is done: issue order holds. Work another
  // thread submits meanwhile waits on driveMu_ (calls from two threads have no order anyway).
  if (!quiet_.load(std::memory_order_acquire)) {
    std::lock_guard lock(mu_);
    if (Status no = refusal(); !no.isOk()) {
      *result = std::move(no);
      return true;
    }
    return false;
  }
  if (!driveMu_.try_lock()) return false;
  *result = run();
  driveMu_.unlock();  // last: an abort waiting for it may free the engine right after
  return true;
}

bool Engine::runInline(Operation& op, Status* result) {
  return inlined(result, [&] { return execute(op); });
}

bool Engine::runBoardInline(const BoardCall& call, const RunBuffers& buffers, mem::ReduceFn reduce, uint64_t seq,
                            std::string_view label, size_t bytes, Status* result) {
  return inlined(result, [&] {
    Status s = runBoard(call, buffers, reduce, seq, [&] { return describeOperation(label, seq, bytes, "board"); });
    if (!s.isOk()) recordFailure(s);
    return s;
  });
}

template <class Describe>
Status Engine::runBoard(const BoardCall& call, const RunBuffers& buffers, mem::ReduceFn reduce, uint64_t seq,
                        const Describe& what) {
  BoardRun run(call, boardCalls_++, buffers, fabric_, reduce, rank_);
  return runTracked(seq, what, run);
}

template <class Run, class Describe>
Status Engine::runTracked(uint64_t seq, const Describe& what, Run& run) {
  const bool onBoard = board_ && seq;
  if (onBoard) board_->started(seq);
  Status s = drive(seq, what, run);
  if (!s.isOk()) s = withHangReport(seq, std::move(s));
  if (onBoard) board_->finished(seq);
  return s;
}

void Engine::submit(std::unique_ptr<Operation> op) {
  std::unique_lock lock(mu_);
  if (Status no = refusal(); !no.isOk()) {
    lock.unlock();
    op->request->complete(std::move(no));
    return;
  }
  queue_.push_back(std::move(op));
  quiet_.store(false, std::memory_order_release);
  lock.unlock();
  cv_.notify_one();
  fabric_.wake();
}

void Engine::drainAndStop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    updateQuiet();
  }
  cv_.notify_one();
  fabric_.wake();
  if (thread_.joinable()) thread_.join();
}

void Engine::abort(const Status& why) {
  {
    std::lock_guard lock(mu_);
    if (!aborting_) abortStatus_ = why;
    aborting_ = true;
    stopping_ = true;
    updateQuiet();
  }
  fabric_.abort();
  cv_.notify_one();
  fabric_.wake();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  // An operation running on a caller's thread sees the aborted fabric and returns on its own;
  // wait for it so the caller may free the communicator after this returns.
  std::lock_guard drive(driveMu_);
}

Status Engine::asyncError() const {
  std::lock_guard lock(mu_);
  return sticky_;
}

Status Engine::execute(Operation& op) {
  Status s = executeSchedule(op);
  if (!s.isOk()) recordFailure(s);  // the operation's own error (with its hang report) is the sticky one
  return s;
}

Status Engine::executeSchedule(Operation& op) {
  if (op.plan) {
    size_t need = op.plan->schedule.scratchBytes;
    if (scratchBytes_ < need) {
      scratch_.reset();  // the old one goes first: both at once could be twice the memory
      scratchBytes_ = 0;
      scratch_ = std::make_unique_for_overwrite<uint8_t[]>(need);  // the run's copies touch its pages
      scratchBytes_ = need;
    }
    op.buffers.scratch = scratch_.get();
  }
  if (op.before) op.before();
  auto what = [&] { return op.what(); };
  Status s;
  if (op.boardCall) {
    s = runBoard(*op.boardCall, op.buffers, op.reduce, op.seq, what);
  } else {
    ScheduleRun run(*op.plan, op.buffers, fabric_, op.reduce, op.elemSize, runMemory_);
    s = runTracked(op.seq, what, run);
  }
  if (!s.isOk()) return s;
  if (op.validate) LOOM_TRY(op.validate());
  if (op.after) op.after();
  return {};
}

template <class Run, class Describe>
Status Engine::drive(uint64_t seq, const Describe& what, Run& run) {
  const double timeout = timeoutSeconds_.load(std::memory_order_relaxed);
  // The clock is read once per idle round and not at all while messages move: on this VM a
  // clock read costs as much as a poll of the rings. So the deadline starts at the first wait: a
  // call that never waits (most small ones) reads no clock.
  bool idle = false;
  bool spinning = false;    // idle, and within spinUs_ of becoming idle at the last clock read
  unsigned spinRounds = 0;
  Clock::time_point idleSince, published;
  Deadline deadline = Deadline::never();
  while (!run.finished()) {
    if (aborting_.load(std::memory_order_acquire)) {
      Status why;
      {
        std::lock_guard lock(mu_);
        why = abortStatus_;
      }
      run.abandon(why);
      return why;
    }
    if (run.advance()) {
      idle = spinning = false;
      continue;
    }
    if (run.finished()) break;
    // While spinning, read the clock on one idle round in 16 only: a read costs about as much
    // as a poll of the rings here, and every round spent reading it delays seeing the data.
    if (spinning && (++spinRounds & 15) != 0) continue;
    const auto now = Clock::now();
    if (!idle) {
      idle = true;
      idleSince = now;
      if (published == Clock::time_point{}) {
        published = now;
        if (timeout > 0) deadline = Deadline::afterSeconds(timeout, now);
        if (board_ && seq) board_->waitingSince(now);
      }
    }
    if (now >= deadline.at()) {
      Status s = timeoutError(fmt::format("rank {}: {} timed out after {} s (LOOM_TIMEOUT) waiting on: {}", rank_,
                                          what(), timeout, run.pendingSummary()));
      run.abandon(s);  // the fabric must not write into this operation's buffers after we return
      return s;
    }
    // Stuck for a while: tell the progress board (other ranks' timeout reports read it).
    if (board_ && seq && now - published > std::chrono::milliseconds(200)) {
      board_->waiting(seq, what(), run.pendingSummary());
      published = now;
    }
    // Spin briefly (fast peers answer within microseconds), then sleep until the fabric stirs.
    spinning = spinUs_ > 0 && now - idleSince <= std::chrono::microseconds(spinUs_);
    if (!spinning) fabric_.waitForActivity(deadline.remainingMs(10));
  }
  return run.status();
}

Status Engine::withHangReport(uint64_t seq, Status s) {
  // A timeout, or an error from a peer that is not dead (it closed its communicator because it
  // gave up first, or disagreed): what this rank knows ends at that peer, the culprit may be
  // elsewhere. A peer known dead names itself already.
  bool hang = s.code() == loomTimeout ||
              (s.code() == loomRemoteError && s.peer() >= 0 && fabric_.failedPeers().empty());
  if (hang && report_ && seq && !aborting_.load()) {
    std::string more = report_(seq, [this] { return aborting_.load(std::memory_order_relaxed); });
    s = Status(s.code(), s.message() + more, s.peer(), s.sysErrno());
  }
  if (s.code() == loomTimeout) LOOM_WARN("{}", s.message());
  return s;
}

void Engine::checkPeers() {
  std::unique_lock drive(driveMu_, std::try_to_lock);
  if (!drive.owns_lock()) return;  // an operation is running; its progress does the checks
  fabric_.checkPeers();
  if (Status s = fabric_.status(); !s.isOk()) recordFailure(s);
}

void Engine::recordFailure(const Status& s) {
  std::vector<int> failed = fabric_.failedPeers();
  std::lock_guard lock(mu_);
  if (sticky_.isOk()) sticky_ = s;
  failedPeers_ = std::move(failed);
  updateQuiet();
}

std::vector<int> Engine::failedPeers() const {
  std::lock_guard lock(mu_);
  return failedPeers_;
}

void Engine::loop() {
  for (;;) {
    std::unique_ptr<Operation> op;
    Status refused;
    {
      std::unique_lock lock(mu_);
      // Idle: wake every 100 ms for liveness work, so a dead peer is reported by
      // loomCommGetAsyncError even when no operation is running.
      while (queue_.empty() && !stopping_) {
        if (cv_.wait_for(lock, std::chrono::milliseconds(100)) == std::cv_status::timeout) {
          lock.unlock();
          checkPeers();
          lock.lock();
        }
      }
      if (aborting_) {
        std::deque<std::unique_ptr<Operation>> pending;
        pending.swap(queue_);
        if (sticky_.isOk()) sticky_ = abortStatus_;
        updateQuiet();
        lock.unlock();
        for (auto& p : pending) p->request->complete(abortStatus_);
        return;
      }
      if (queue_.empty()) return;  // stopping, and everything issued has run
      op = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      quiet_.store(false, std::memory_order_release);
      refused = sticky_;  // queued behind a failure: fail with it (stopping still drains)
    }
    Status s = refused;
    if (s.isOk()) {
      std::lock_guard drive(driveMu_);
      s = execute(*op);
    }
    // busy_ clears (and quiet_ may be set) before the request completes: a caller woken by
    // the completion who then makes a blocking call finds the engine quiet and runs it inline.
    {
      std::lock_guard lock(mu_);
      busy_ = false;
      updateQuiet();
    }
    op->request->complete(s);
  }
}

}  // namespace loom::core

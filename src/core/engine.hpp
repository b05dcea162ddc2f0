// The progress engine of one communicator: runs submitted operations one at a time in issue
// order, drives the fabric, enforces each operation's deadline, and completes requests.
//
// Whoever runs an operation holds driveMu_, so the fabric is touched by one thread at a time
// (DESIGN.md, Threads). Nonblocking operations run on the engine's thread. A blocking call made
// while nothing else is queued runs on the caller's thread instead: no hand-off to another thread
// and back, which is most of the latency of a small collective on a busy machine.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/board_run.hpp"
#include "core/executor.hpp"
#include "core/progress_board.hpp"
#include "core/request.hpp"
#include "core/spin_lock.hpp"
#include "core/temp_pool.hpp"

namespace loom::core {

struct Operation {
  std::shared_ptr<const PreparedSchedule> plan;  // or, for a call on the board, boardCall
  std::optional<BoardCall> boardCall;
  RunBuffers buffers;              // scratch is filled in by the engine
  mem::ReduceFn reduce = nullptr;
  size_t elemSize = 1;
  std::function<void()> before;    // runs before the schedule, on the running thread (may be empty)
  std::function<void()> after;     // runs after success (e.g. the division of loomAvg)
  std::function<Status()> validate;  // runs after success; an error fails the operation (LOOM_CHECK)
  TempPool::Buffer ownedTemp;      // memory the operation's buffers point into
  std::shared_ptr<RequestState> request;
  // For diagnostics, formatted only when needed (a small call must not pay for fmt):
  // "allreduce #12 (4096 bytes, ring)", "send/recv group #3 (2 operations)".
  std::string_view label = "operation";
  std::string fixedWhat;           // when set, the whole description
  uint64_t seq = 0;                // the 12 of "#12"; 0: internal (not on the progress board)
  size_t bytes = 0;                // of the collective's input; for a group, its operation count
  bool isGroup = false;
  std::string what() const;
};

// "allreduce #12 (4096 bytes, ring)": an operation as timeout reports and the progress board name it.
std::string describeOperation(std::string_view label, uint64_t seq, size_t bytes, std::string_view algorithm);

// Asks the other ranks about operation #seq after it timed out here and returns the text that
// extends the error ("; never reached #12: rank 3 (idle; ...)"); gives up when cancelled().
using HangReport = std::function<std::string(uint64_t seq, const std::function<bool()>& cancelled)>;

class Engine {
 public:
  // `board` (may be null) is kept up to date with what runs; `report` (may be empty) extends
  // timeout errors with what the other ranks say.
  Engine(transport::Fabric& fabric, int rank, double timeoutSeconds, int spinUs, ProgressBoard* board = nullptr,
         HangReport report = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Any thread. Operations run in submission order, on the engine's thread; `op` completes its
  // request.
  void submit(std::unique_ptr<Operation> op);
  // For a caller that would wait at once: runs `op` on the calling thread when nothing earlier is
  // pending (which keeps issue order) and sets `result`; false when it must be submitted instead.
  // `op` needs no request.
  bool runInline(Operation& op, Status* result);
  // The same for a call on the board that needs nothing but the board (no before, after or
  // validate step, no temporary buffers), without making an Operation: the shortest path a small
  // blocking collective can take. `label` and `bytes` name it in diagnostics.
  bool runBoardInline(const BoardCall& call, const RunBuffers& buffers, mem::ReduceFn reduce, uint64_t seq,
                      std::string_view label, size_t bytes, Status* result);
  // Lets queued operations finish (each bounded by its deadline), then stops the thread.
  void drainAndStop();
  // Fails the running and queued operations with `why` and stops the thread promptly.
  void abort(const Status& why);
  // Any thread: the deadline of operations that start from now on (0: none).
  void setTimeout(double seconds) { timeoutSeconds_.store(seconds); }
  double timeout() const { return timeoutSeconds_.load(); }
  // The sticky error (ok while healthy); never blocks.
  Status asyncError() const;
  // Peers the fabric has declared failed, as of the last operation or idle check; never blocks.
  std::vector<int> failedPeers() const;

 private:
  void loop();
  // Why no operation may start (abort, sticky error, or stopping); ok otherwise. The caller holds mu_.
  Status refusal() const;
  // Runs one operation to completion or failure; the caller holds driveMu_ and has checked, under
  // mu_, that no sticky error or abort refuses it (runInline's refusal(), loop()).
  Status execute(Operation& op);
  Status executeSchedule(Operation& op);
  // runInline's checks and driveMu_ around `run`, which returns the call's status.
  template <class Run>
  bool inlined(Status* result, const Run& run);
  // Runs a call on the board through runTracked; `what` describes it.
  template <class Describe>
  Status runBoard(const BoardCall& call, const RunBuffers& buffers, mem::ReduceFn reduce, uint64_t seq,
                  const Describe& what);
  // drive() between the progress board's start and finish of operation #seq, with the hang report
  // added to a failure.
  template <class Run, class Describe>
  Status runTracked(uint64_t seq, const Describe& what, Run& run);
  // Runs a ScheduleRun or a BoardRun to the end, the deadline, or an abort; publishes what it
  // waits on while stuck, as `what()` describes operation #seq.
  template <class Run, class Describe>
  Status drive(uint64_t seq, const Describe& what, Run& run);
  // Appends the gathered report to a timeout, or to an error from a peer that is not dead.
  Status withHangReport(uint64_t seq, Status s);
  // Idle-time liveness work (heartbeats, peer checks); records a failure as the sticky error.
  void checkPeers();
  // Makes `s` (an operation's error or the fabric's failure) the sticky error unless one is set,
  // and copies the fabric's failed peers; the caller holds driveMu_.
  void recordFailure(const Status& s);

  transport::Fabric& fabric_;
  int rank_;
  std::atomic<double> timeoutSeconds_;
  int spinUs_;
  ProgressBoard* board_;
  HangReport report_;

  mutable std::mutex mu_;  // guards the queue, busy_, stopping_, sticky_
  // Written under mu_ after each change of the fields above: nothing is queued or running and
  // nothing refuses new work. A blocking call reads it instead of taking mu_ (one lock fewer).
  std::atomic<bool> quiet_{true};
  void updateQuiet() { quiet_.store(queue_.empty() && !busy_ && refusal().isOk(), std::memory_order_release); }
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Operation>> queue_;
  bool busy_ = false;      // the engine thread has taken an operation it has not completed
  bool stopping_ = false;
  std::atomic<bool> aborting_{false};
  Status abortStatus_;
  Status sticky_;
  std::vector<int> failedPeers_;

  SpinLock driveMu_;       // held by the thread running an operation (taken by try_lock on a caller's thread)
  // Under driveMu_; never zero-filled: a vector's resize wrote every byte of a 256 MiB scratch
  // while holding driveMu_, with no progress pass to send heartbeats, and on 4 crowded tcp ranks
  // that took seconds, long enough for a peer to declare this rank dead.
  std::unique_ptr<uint8_t[]> scratch_;
  size_t scratchBytes_ = 0;
  RunMemory runMemory_;           // under driveMu_
  uint64_t boardCalls_ = 0;       // under driveMu_: board calls run so far (their numbering)
  std::thread thread_;
};

}  // namespace loom::core

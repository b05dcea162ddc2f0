// The progress engine of one communicator: a thread that runs submitted operations one at a
// time in issue order, drives the fabric, enforces each operation's deadline, and completes
// requests. Transport state is touched only on this thread (DESIGN.md, Threads).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/executor.hpp"
#include "core/request.hpp"

namespace loom::core {

struct Operation {
  std::shared_ptr<const PreparedSchedule> plan;
  RunBuffers buffers;              // scratch is filled in by the engine
  mem::ReduceFn reduce = nullptr;
  size_t elemSize = 1;
  std::function<void()> before;    // runs on the engine thread before the schedule (may be empty)
  std::function<void()> after;     // runs after success (e.g. the division of loomAvg)
  std::vector<uint8_t> ownedTemp;  // memory the operation's buffers point into
  std::shared_ptr<RequestState> request;
  std::string what;                // "allreduce #12 (4096 bytes, ring)" for diagnostics
};

class Engine {
 public:
  Engine(transport::Fabric& fabric, int rank, double timeoutSeconds, int spinUs);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Any thread. Operations run in submission order.
  void submit(std::unique_ptr<Operation> op);
  // Lets queued operations finish (each bounded by its deadline), then stops the thread.
  void drainAndStop();
  // Fails the running and queued operations with `why` and stops the thread promptly.
  void abort(const Status& why);
  // The sticky error (ok while healthy); never blocks.
  Status asyncError() const;

 private:
  void loop();
  void failAll(const Status& s);
  void finishCurrent(const Status& s);
  bool startNext();

  transport::Fabric& fabric_;
  int rank_;
  double timeoutSeconds_;
  int spinUs_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Operation>> queue_;
  bool stopping_ = false;
  std::atomic<bool> aborting_{false};
  Status abortStatus_;
  Status sticky_;

  // Engine-thread state.
  std::unique_ptr<Operation> current_;
  std::unique_ptr<ScheduleRun> run_;
  Deadline deadline_ = Deadline::never();
  std::vector<uint8_t> scratch_;
  std::thread thread_;
};

}  // namespace loom::core

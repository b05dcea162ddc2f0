#include "core/engine.hpp"

#include <fmt/format.h>

#include "core/log.hpp"

namespace loom::core {

Engine::Engine(transport::Fabric& fabric, int rank, double timeoutSeconds, int spinUs)
    : fabric_(fabric), rank_(rank), timeoutSeconds_(timeoutSeconds), spinUs_(spinUs) {
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() { drainAndStop(); }

void Engine::submit(std::unique_ptr<Operation> op) {
  {
    std::lock_guard lock(mu_);
    if (!sticky_.isOk() || stopping_) {
      Status s = sticky_.isOk() ? invalidUsage("communicator is being destroyed") : sticky_;
      op->request->complete(s);
      return;
    }
    queue_.push_back(std::move(op));
  }
  cv_.notify_one();
  fabric_.wake();
}

void Engine::drainAndStop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
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
  }
  fabric_.abort();
  cv_.notify_one();
  fabric_.wake();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

Status Engine::asyncError() const {
  std::lock_guard lock(mu_);
  return sticky_;
}

void Engine::finishCurrent(const Status& s) {
  if (s.isOk() && current_->after) current_->after();
  if (!s.isOk()) {
    std::lock_guard lock(mu_);
    if (sticky_.isOk()) sticky_ = s;
  }
  current_->request->complete(s);
  run_.reset();
  current_.reset();
}

void Engine::failAll(const Status& s) {
  if (current_) finishCurrent(s);
  std::deque<std::unique_ptr<Operation>> pending;
  {
    std::lock_guard lock(mu_);
    if (sticky_.isOk()) sticky_ = s;
    pending.swap(queue_);
  }
  for (auto& op : pending) op->request->complete(s);
}

// Takes the next queued operation and starts it; false when the engine should exit.
bool Engine::startNext() {
  std::unique_lock lock(mu_);
  while (queue_.empty()) {
    if (stopping_ || aborting_) return false;
    cv_.wait_for(lock, std::chrono::milliseconds(100));
  }
  current_ = std::move(queue_.front());
  queue_.pop_front();
  Status sticky = sticky_;
  lock.unlock();
  if (!sticky.isOk()) {
    finishCurrent(sticky);
    return true;
  }
  size_t need = current_->plan->schedule.scratchBytes;
  if (scratch_.size() < need) scratch_.resize(need);
  current_->buffers.scratch = scratch_.data();
  if (current_->before) current_->before();
  deadline_ = timeoutSeconds_ > 0 ? Deadline::afterSeconds(timeoutSeconds_) : Deadline::never();
  run_ = std::make_unique<ScheduleRun>(*current_->plan, current_->buffers, fabric_, current_->reduce,
                                       current_->elemSize);
  return true;
}

void Engine::loop() {
  auto idleSince = Clock::now();
  for (;;) {
    if (aborting_.load(std::memory_order_acquire)) {
      failAll(abortStatus_);
      return;
    }
    if (!current_) {
      if (!startNext()) return;
      idleSince = Clock::now();
      continue;
    }
    bool moved = run_->advance();
    if (run_->finished()) {
      finishCurrent(run_->status());
      continue;
    }
    if (moved) {
      idleSince = Clock::now();
      continue;
    }
    if (deadline_.expired()) {
      Status s = timeoutError(fmt::format("rank {}: {} timed out after {} s (LOOM_TIMEOUT) waiting on: {}", rank_,
                                          current_->what, timeoutSeconds_, run_->pendingSummary()));
      LOOM_WARN("{}", s.message());
      failAll(s);
      continue;
    }
    // Spin briefly (fast peers answer within microseconds), then sleep until the fabric stirs.
    if (Clock::now() - idleSince > std::chrono::microseconds(spinUs_))
      fabric_.waitForActivity(deadline_.remainingMs(10));
  }
}

}  // namespace loom::core

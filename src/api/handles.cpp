#include "api/handles.hpp"

#include <atomic>
#include <unordered_set>

#include "core/log.hpp"
#include "core/params.hpp"

namespace loom::api {

namespace {

std::mutex registryMu;
std::unordered_set<loomComm_t>& registry() {
  static auto* set = new std::unordered_set<loomComm_t>;  // never destroyed: used at exit
  return *set;
}

thread_local std::string threadLastError;

// Bumped by every unregister: a thread's memo of the last communicator it found live holds
// while the generation is unchanged, so a call on the same communicator as the previous one
// takes no lock (a lock pair costs about a tenth of a small call here).
std::atomic<uint64_t> registryGeneration{0};
thread_local loomComm_t liveMemo = nullptr;
thread_local uint64_t liveMemoGeneration = 0;

}  // namespace

void registerComm(loomComm_t comm) {
  std::lock_guard lock(registryMu);
  registry().insert(comm);
}

bool unregisterComm(loomComm_t comm) {
  std::lock_guard lock(registryMu);
  registryGeneration.fetch_add(1, std::memory_order_acq_rel);
  return registry().erase(comm) > 0;
}

bool isLive(loomComm_t comm) {
  const uint64_t gen = registryGeneration.load(std::memory_order_acquire);
  if (comm && comm == liveMemo && gen == liveMemoGeneration) return true;
  std::lock_guard lock(registryMu);
  const bool live = registry().count(comm) > 0;
  if (live) {
    liveMemo = comm;
    liveMemoGeneration = registryGeneration.load(std::memory_order_relaxed);
  }
  return live;
}

Status checkComm(loomComm_t comm) {
  if (!comm) return invalidArgument("comm is NULL");
  if (!isLive(comm)) return invalidUsage("comm was destroyed or never initialized");
  return {};
}

loomResult_t fail(loomComm_t comm, const Status& status) {
  if (status.isOk()) return loomSuccess;
  threadLastError = status.message();
  if (comm && isLive(comm)) {
    std::lock_guard lock(comm->errorMu);
    comm->lastError = status.message();
  }
  LOOM_INFO("{} ({})", status.message(), loomGetErrorString(status.code()));
  return status.code();
}

const std::string& lastThreadError() { return threadLastError; }

Deadline operationWaitDeadline() {
  double t = params::getDouble("LOOM_TIMEOUT");
  return t > 0 ? Deadline::afterSeconds(t + 30) : Deadline::never();
}

}  // namespace loom::api

extern "C" {

LOOM_API const char* loomGetLastError(loomComm_t comm) {
  thread_local std::string copy;
  if (comm && loom::api::isLive(comm)) {
    std::lock_guard lock(comm->errorMu);
    copy = comm->lastError;
  } else {
    copy = loom::api::lastThreadError();
  }
  return copy.c_str();
}

LOOM_API const char* loomGetErrorString(loomResult_t result) {
  switch (result) {
    case loomSuccess: return "no error";
    case loomUnhandledCudaError: return "unhandled CUDA error";
    case loomSystemError: return "system error (an OS call failed)";
    case loomInternalError: return "internal error (a bug in Loom)";
    case loomInvalidArgument: return "invalid argument";
    case loomInvalidUsage: return "invalid usage";
    case loomRemoteError: return "remote error (a peer failed or disagreed)";
    case loomInProgress: return "operation in progress";
    case loomTimeout: return "timeout";
    default: return "unknown result code";
  }
}

}  // extern "C"

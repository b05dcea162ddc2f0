#include "api/handles.hpp"

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

}  // namespace

void registerComm(loomComm_t comm) {
  std::lock_guard lock(registryMu);
  registry().insert(comm);
}

bool unregisterComm(loomComm_t comm) {
  std::lock_guard lock(registryMu);
  return registry().erase(comm) > 0;
}

bool isLive(loomComm_t comm) {
  std::lock_guard lock(registryMu);
  return registry().count(comm) > 0;
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

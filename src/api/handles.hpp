// The objects behind the public opaque handles, the registry that makes use-after-destroy an
// error instead of a crash, and last-error bookkeeping.
#pragma once

#include <loom/loom.h>

#include <memory>
#include <mutex>
#include <string>

#include "core/communicator.hpp"

struct loomComm {
  std::unique_ptr<loom::core::Communicator> impl;
  std::mutex errorMu;
  std::string lastError;
};

struct loomRequest {
  std::shared_ptr<loom::core::RequestState> state;
  loomComm_t comm = nullptr;
};

namespace loom::api {

void registerComm(loomComm_t comm);
// Removes comm from the registry; false if it was not there.
bool unregisterComm(loomComm_t comm);
bool isLive(loomComm_t comm);

// Records the error as the last error of comm (if live) and of this thread; returns its code.
loomResult_t fail(loomComm_t comm, const Status& status);
// Completes a submitted operation: hands out a request, or waits for it (api_coll.cpp).
loomResult_t finish(loomComm_t comm, Result<std::shared_ptr<core::RequestState>> submitted, loomRequest_t* request);
const std::string& lastThreadError();

// Checks that comm is a live communicator; sets *out.
Status checkComm(loomComm_t comm);

// Deadline for a blocking wait on an operation: LOOM_TIMEOUT plus a margin (the engine enforces
// the operation's own deadline; this only guards against a wedged engine).
Deadline operationWaitDeadline();

}  // namespace loom::api

// loomGroupStart/End: per-thread collection of sends and receives fused into one step.
#pragma once

#include "api/handles.hpp"

namespace loom::api {

// Completes a submitted operation: hands out a request, or waits for it.
loomResult_t finish(loomComm_t comm, Result<std::shared_ptr<core::RequestState>> submitted, loomRequest_t* request);

}  // namespace loom::api

// Point-to-point calls and groups. Outside a group each send or receive is its own operation;
// inside one they are collected per communicator and submitted together at loomGroupEnd.
#include <fmt/format.h>

#include <limits>
#include <vector>

#include "api/handles.hpp"

using loom::Status;
using loom::api::fail;
using loom::core::P2pCall;

namespace {

struct PendingGroup {
  loomComm_t comm;
  std::vector<P2pCall> calls;
  std::vector<loomRequest_t> handed;  // requests given out for calls of this group
};

struct GroupState {
  int depth = 0;
  std::vector<PendingGroup> groups;
};

thread_local GroupState group;

loomResult_t p2p(loomComm_t comm, bool isSend, const void* send, void* recv, size_t count, loomDataType_t type,
                 int peer, loomRequest_t* request) {
  if (request) *request = nullptr;
  const char* name = isSend ? "send" : "recv";
  if (Status s = loom::api::checkComm(comm); !s.isOk()) return fail(nullptr, s);
  if (!loom::mem::isValidType(type))
    return fail(comm, loom::invalidArgument(fmt::format("{}: unknown datatype {}", name, static_cast<int>(type))));
  int n = comm->impl->nranks();
  if (peer < 0 || peer >= n)
    return fail(comm, loom::invalidArgument(fmt::format("{}: peer {} is out of range for {} ranks", name, peer, n)));
  size_t elem = loom::mem::typeSize(type);
  if (count > std::numeric_limits<size_t>::max() / elem / 2)
    return fail(comm, loom::invalidArgument(fmt::format("{}: count {} overflows the addressable size", name, count)));
  if (count && !(isSend ? send : recv))
    return fail(comm, loom::invalidArgument(fmt::format("{}: buffer is NULL with count {}", name, count)));
  P2pCall call{isSend, peer, send, recv, count * elem};
  if (group.depth == 0) return loom::api::finish(comm, comm->impl->pointToPoint({call}, request == nullptr), request);

  PendingGroup* g = nullptr;
  for (auto& pg : group.groups)
    if (pg.comm == comm) g = &pg;
  if (!g) g = &group.groups.emplace_back(PendingGroup{comm, {}, {}});
  g->calls.push_back(call);
  if (request) {
    *request = new loomRequest{std::make_shared<loom::core::RequestState>(), comm};
    g->handed.push_back(*request);
  }
  return loomSuccess;
}

}  // namespace

extern "C" {

LOOM_API loomResult_t loomSend(const void* sendbuff, size_t count, loomDataType_t datatype, int peer,
                               loomComm_t comm, loomRequest_t* request) {
  return p2p(comm, true, sendbuff, nullptr, count, datatype, peer, request);
}

LOOM_API loomResult_t loomRecv(void* recvbuff, size_t count, loomDataType_t datatype, int peer, loomComm_t comm,
                               loomRequest_t* request) {
  return p2p(comm, false, nullptr, recvbuff, count, datatype, peer, request);
}

LOOM_API loomResult_t loomGroupStart(void) {
  ++group.depth;
  return loomSuccess;
}

LOOM_API loomResult_t loomGroupEnd(void) {
  if (group.depth == 0) return fail(nullptr, loom::invalidUsage("loomGroupEnd without loomGroupStart"));
  if (--group.depth > 0) return loomSuccess;
  std::vector<PendingGroup> groups;
  groups.swap(group.groups);
  // Submit every communicator's group first so that groups spanning communicators progress
  // together, then wait for each.
  std::vector<loom::Result<std::shared_ptr<loom::core::RequestState>>> submitted;
  for (auto& g : groups) {
    // A lone group may run on this thread; several must all be in flight before any is waited on.
    if (loom::api::isLive(g.comm)) submitted.push_back(g.comm->impl->pointToPoint(g.calls, groups.size() == 1));
    else submitted.push_back(loom::invalidUsage("comm was destroyed before loomGroupEnd"));
  }
  loomResult_t first = loomSuccess;
  for (size_t i = 0; i < groups.size(); ++i) {
    Status s;
    if (!submitted[i].isOk()) {
      s = submitted[i].status();
    } else if (!submitted[i].value()) {
      // ran on this thread and succeeded
    } else if (!submitted[i].value()->wait(loom::api::operationWaitDeadline())) {
      s = loom::timeoutError("send/recv group did not complete within LOOM_TIMEOUT + 30 s");
    } else {
      s = submitted[i].value()->status();
    }
    for (loomRequest_t r : groups[i].handed) r->state->complete(s);
    loomResult_t code = fail(loom::api::isLive(groups[i].comm) ? groups[i].comm : nullptr, s);
    if (first == loomSuccess) first = code;
  }
  return first;
}

}  // extern "C"

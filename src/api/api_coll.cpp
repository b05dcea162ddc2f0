// Collective entry points: argument checks with messages naming the problem, then the
// communicator; blocking calls wait here, nonblocking ones hand back a request.
#include <fmt/format.h>

#include <limits>

#include "api/handles.hpp"

using loom::Status;
using loom::algo::Coll;
using loom::api::fail;
using loom::core::CollCall;

namespace loom::api {

loomResult_t finish(loomComm_t comm, Result<std::shared_ptr<core::RequestState>> submitted,
                    loomRequest_t* request) {
  if (!submitted.isOk()) return fail(comm, submitted.status());
  auto state = std::move(submitted.value());
  if (!state) return loomSuccess;  // a blocking call that ran to success on this thread
  if (request) {
    *request = new loomRequest{std::move(state), comm};
    return loomSuccess;
  }
  // A blocking call usually ran on this thread and is done: no deadline to compute then.
  if (!state->isDone() && !state->wait(operationWaitDeadline()))
    return fail(comm, timeoutError("operation did not complete within LOOM_TIMEOUT + 30 s"));
  return fail(comm, state->status());
}

namespace {

bool needsSend(const CollCall& c, int rank) {
  switch (c.coll) {
    case Coll::Broadcast:
    case Coll::Scatter: return rank == c.root;
    default: return true;
  }
}

bool needsRecv(const CollCall& c, int rank) {
  switch (c.coll) {
    case Coll::Reduce:
    case Coll::Gather: return rank == c.root;
    default: return true;
  }
}

Status checkCall(loomComm_t comm, const CollCall& c) {
  LOOM_TRY(checkComm(comm));
  const int n = comm->impl->nranks();
  const int rank = comm->impl->rank();
  const auto name = [&] { return collName(c.coll); };  // for the messages only
  if (!mem::isValidType(c.type))
    return invalidArgument(fmt::format("{}: unknown datatype {}", name(), static_cast<int>(c.type)));
  if (algo::isReduction(c.coll)) {
    Status s = comm->impl->validateOp(c.op, c.type);
    if (!s.isOk()) return invalidArgument(fmt::format("{}: {}", name(), s.message()));
  }
  if (algo::isRooted(c.coll) && (c.root < 0 || c.root >= n))
    return invalidArgument(fmt::format("{}: root {} is out of range for {} ranks", name(), c.root, n));
  const size_t elem = mem::typeSize(c.type);
  if (c.coll == Coll::AllToAllv) {
    if (!c.sendCounts || !c.sendDispls || !c.recvCounts || !c.recvDispls)
      return invalidArgument("alltoallv: sendcounts, sdispls, recvcounts and rdispls must not be NULL");
    size_t sendTotal = 0, recvTotal = 0;
    const size_t limit = std::numeric_limits<size_t>::max() / elem / 2;
    for (int p = 0; p < n; ++p) {
      if (c.sendCounts[p] > limit || c.sendDispls[p] > limit || c.recvCounts[p] > limit || c.recvDispls[p] > limit)
        return invalidArgument(fmt::format("alltoallv: counts or displacements for peer {} overflow", p));
      sendTotal += c.sendCounts[p];
      recvTotal += c.recvCounts[p];
    }
    if (sendTotal && !c.send) return invalidArgument("alltoallv: sendbuff is NULL with non-zero sendcounts");
    if (recvTotal && !c.recv) return invalidArgument("alltoallv: recvbuff is NULL with non-zero recvcounts");
    return {};
  }
  // The largest buffer a call names is count * elem * n; half the address space is the limit.
  // Multiplications, not divisions: this runs on every call, and a 64-bit division costs more than
  // the rest of these checks together.
  size_t bytes = 0;
  if (__builtin_mul_overflow(c.count, elem * 2, &bytes) ||
      __builtin_mul_overflow(bytes, static_cast<size_t>(n), &bytes))
    return invalidArgument(fmt::format("{}: count {} overflows the addressable size", name(), c.count));
  if (c.count == 0) return {};
  if (needsSend(c, rank) && !c.send)
    return invalidArgument(fmt::format("{}: sendbuff is NULL with count {}", name(), c.count));
  if (needsRecv(c, rank) && !c.recv)
    return invalidArgument(fmt::format("{}: recvbuff is NULL with count {}", name(), c.count));
  return {};
}

loomResult_t run(loomComm_t comm, const CollCall& c, loomRequest_t* request) {
  if (request) *request = nullptr;
  Status s = checkCall(comm, c);
  if (!s.isOk()) return fail(isLive(comm) ? comm : nullptr, s);
  return finish(comm, comm->impl->collective(c, request == nullptr), request);
}

}  // namespace
}  // namespace loom::api

using loom::api::run;

extern "C" {

LOOM_API loomResult_t loomAllReduce(const void* sendbuff, void* recvbuff, size_t count, loomDataType_t datatype,
                                    loomRedOp_t op, loomComm_t comm, loomRequest_t* request) {
  return run(comm, {Coll::AllReduce, sendbuff, recvbuff, count, datatype, op}, request);
}

LOOM_API loomResult_t loomBroadcast(const void* sendbuff, void* recvbuff, size_t count, loomDataType_t datatype,
                                    int root, loomComm_t comm, loomRequest_t* request) {
  return run(comm, {Coll::Broadcast, sendbuff, recvbuff, count, datatype, loomSum, root}, request);
}

LOOM_API loomResult_t loomReduce(const void* sendbuff, void* recvbuff, size_t count, loomDataType_t datatype,
                                 loomRedOp_t op, int root, loomComm_t comm, loomRequest_t* request) {
  return run(comm, {Coll::Reduce, sendbuff, recvbuff, count, datatype, op, root}, request);
}

LOOM_API loomResult_t loomAllGather(const void* sendbuff, void* recvbuff, size_t sendcount, loomDataType_t datatype,
                                    loomComm_t comm, loomRequest_t* request) {
  return run(comm, {Coll::AllGather, sendbuff, recvbuff, sendcount, datatype}, request);
}

LOOM_API loomResult_t loomReduceScatter(const void* sendbuff, void* recvbuff, size_t recvcount,
                                        loomDataType_t datatype, loomRedOp_t op, loomComm_t comm,
                                        loomRequest_t* request) {
  return run(comm, {Coll::ReduceScatter, sendbuff, recvbuff, recvcount, datatype, op}, request);
}

LOOM_API loomResult_t loomAllToAll(const void* sendbuff, void* recvbuff, size_t count, loomDataType_t datatype,
                                   loomComm_t comm, loomRequest_t* request) {
  return run(comm, {Coll::AllToAll, sendbuff, recvbuff, count, datatype}, request);
}

LOOM_API loomResult_t loomAllToAllv(const void* sendbuff, const size_t sendcounts[], const size_t sdispls[],
                                    void* recvbuff, const size_t recvcounts[], const size_t rdispls[],
                                    loomDataType_t datatype, loomComm_t comm, loomRequest_t* request) {
  CollCall c{Coll::AllToAllv, sendbuff, recvbuff, 0, datatype};
  c.sendCounts = sendcounts;
  c.sendDispls = sdispls;
  c.recvCounts = recvcounts;
  c.recvDispls = rdispls;
  return run(comm, c, request);
}

LOOM_API loomResult_t loomGather(const void* sendbuff, void* recvbuff, size_t sendcount, loomDataType_t datatype,
                                 int root, loomComm_t comm, loomRequest_t* request) {
  return run(comm, {Coll::Gather, sendbuff, recvbuff, sendcount, datatype, loomSum, root}, request);
}

LOOM_API loomResult_t loomScatter(const void* sendbuff, void* recvbuff, size_t recvcount, loomDataType_t datatype,
                                  int root, loomComm_t comm, loomRequest_t* request) {
  return run(comm, {Coll::Scatter, sendbuff, recvbuff, recvcount, datatype, loomSum, root}, request);
}

LOOM_API loomResult_t loomBarrier(loomComm_t comm, loomRequest_t* request) {
  return run(comm, {Coll::Barrier, nullptr, nullptr, 0, loomUint8}, request);
}

LOOM_API loomResult_t loomTest(loomRequest_t request, int* done) {
  if (!request) return fail(nullptr, loom::invalidArgument("request is NULL"));
  if (!done) return fail(nullptr, loom::invalidArgument("done is NULL"));
  *done = request->state->isDone() ? 1 : 0;
  if (!*done) return loomSuccess;
  loomComm_t comm = request->comm;
  Status s = request->state->status();
  delete request;
  return fail(comm, s);
}

LOOM_API loomResult_t loomWait(loomRequest_t request) {
  if (!request) return fail(nullptr, loom::invalidArgument("request is NULL"));
  loomComm_t comm = request->comm;
  if (!request->state->wait(loom::api::operationWaitDeadline())) {
    // The engine enforces each operation's deadline; reaching this means it is wedged. The
    // request stays valid so the caller may abort the communicator and wait again.
    return fail(comm, loom::timeoutError("request did not complete within LOOM_TIMEOUT + 30 s"));
  }
  Status s = request->state->status();
  delete request;
  return fail(comm, s);
}

}  // extern "C"

namespace {

// loomEstimate and loomEstimateRepeated: the same checks, one figure or the other.
loomResult_t estimateFor(const char* fn, loomComm_t comm, loomCollective_t collective, size_t count,
                         loomDataType_t datatype, const char** algorithm, double* microseconds, bool repeated) {
  if (Status s = loom::api::checkComm(comm); !s.isOk()) return fail(nullptr, s);
  static const Coll kColls[] = {Coll::AllReduce,     Coll::Broadcast, Coll::Reduce, Coll::AllGather,
                                Coll::ReduceScatter, Coll::AllToAll,  Coll::Gather, Coll::Scatter};
  if (collective < 0 || collective >= loomNumCollectives)
    return fail(comm, loom::invalidArgument(fmt::format("{}: unknown collective {}", fn, static_cast<int>(collective))));
  if (!loom::mem::isValidType(datatype))
    return fail(comm, loom::invalidArgument(fmt::format("{}: unknown datatype {}", fn, static_cast<int>(datatype))));
  if (!microseconds) return fail(comm, loom::invalidArgument(fmt::format("{}: microseconds is NULL", fn)));
  if (count > (std::numeric_limits<size_t>::max() / 16) / static_cast<size_t>(comm->impl->nranks()))
    return fail(comm, loom::invalidArgument(fmt::format("{}: count {} is too large", fn, count)));
  auto e = comm->impl->estimateCall(kColls[collective], count, datatype, repeated);
  if (!e.isOk()) return fail(comm, e.status());
  if (algorithm) *algorithm = loom::algo::algoName(e->algo).data();
  *microseconds = repeated ? e->loopUs : e->us;
  return loomSuccess;
}

}  // namespace

LOOM_API loomResult_t loomEstimate(loomComm_t comm, loomCollective_t collective, size_t count,
                                   loomDataType_t datatype, const char** algorithm, double* microseconds) {
  return estimateFor("loomEstimate", comm, collective, count, datatype, algorithm, microseconds, false);
}

LOOM_API loomResult_t loomEstimateRepeated(loomComm_t comm, loomCollective_t collective, size_t count,
                                           loomDataType_t datatype, const char** algorithm,
                                           double* microsecondsPerCall) {
  return estimateFor("loomEstimateRepeated", comm, collective, count, datatype, algorithm, microsecondsPerCall, true);
}

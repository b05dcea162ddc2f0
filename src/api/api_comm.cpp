// Communicator life cycle: version, unique ids, init, destroy, abort, queries.
#include <fmt/format.h>

#include <thread>
#include <vector>

#include "api/handles.hpp"
#include "core/params.hpp"

using loom::Status;
using loom::api::fail;

namespace {

loomComm_t adopt(std::unique_ptr<loom::core::Communicator> impl) {
  auto* handle = new loomComm;
  handle->impl = std::move(impl);
  loom::api::registerComm(handle);
  return handle;
}

loomResult_t initRank(loomComm_t* comm, int nranks, const loomUniqueId& id, int rank) {
  auto impl = loom::core::Communicator::init(id, rank, nranks);
  if (!impl.isOk()) return fail(nullptr, impl.status());
  *comm = adopt(std::move(impl.value()));
  return loomSuccess;
}

}  // namespace

extern "C" {

LOOM_API loomResult_t loomGetVersion(int* version) {
  if (!version) return fail(nullptr, loom::invalidArgument("version is NULL"));
  *version = LOOM_VERSION_CODE;
  return loomSuccess;
}

LOOM_API loomResult_t loomGetUniqueId(loomUniqueId* uniqueId) {
  if (!uniqueId) return fail(nullptr, loom::invalidArgument("uniqueId is NULL"));
  auto id = loom::bootstrap::createRoot();
  if (!id.isOk()) return fail(nullptr, id.status());
  *uniqueId = id.value();
  return loomSuccess;
}

LOOM_API loomResult_t loomCommInitRank(loomComm_t* comm, int nranks, loomUniqueId commId, int rank) {
  if (!comm) return fail(nullptr, loom::invalidArgument("comm is NULL"));
  *comm = nullptr;
  if (nranks < 1) return fail(nullptr, loom::invalidArgument(fmt::format("nranks is {}; it must be at least 1", nranks)));
  if (rank < 0 || rank >= nranks)
    return fail(nullptr, loom::invalidArgument(fmt::format("rank {} is out of range for nranks {}", rank, nranks)));
  return initRank(comm, nranks, commId, rank);
}

LOOM_API loomResult_t loomCommInitAll(loomComm_t* comms, int n) {
  if (!comms) return fail(nullptr, loom::invalidArgument("comms is NULL"));
  if (n < 1) return fail(nullptr, loom::invalidArgument(fmt::format("n is {}; it must be at least 1", n)));
  loomUniqueId id;
  if (loomResult_t r = loomGetUniqueId(&id); r != loomSuccess) return r;
  std::vector<loomResult_t> results(n, loomSuccess);
  std::vector<std::string> errors(n);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    comms[r] = nullptr;
    threads.emplace_back([&, r] {
      results[r] = initRank(&comms[r], n, id, r);
      if (results[r] != loomSuccess) errors[r] = loomGetLastError(nullptr);
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < n; ++r) {
    if (results[r] == loomSuccess) continue;
    for (int k = 0; k < n; ++k)
      if (comms[k]) loomCommDestroy(comms[k]), comms[k] = nullptr;
    return fail(nullptr, Status(results[r], fmt::format("rank {}: {}", r, errors[r])));
  }
  return loomSuccess;
}

LOOM_API loomResult_t loomCommInitFromEnv(loomComm_t* comm) {
  if (!comm) return fail(nullptr, loom::invalidArgument("comm is NULL"));
  *comm = nullptr;
  auto env = loom::bootstrap::fromEnvironment(
      loom::Deadline::afterSeconds(loom::params::getDouble("LOOM_INIT_TIMEOUT")));
  if (!env.isOk()) return fail(nullptr, env.status());
  return initRank(comm, env->nranks, env->id, env->rank);
}

LOOM_API loomResult_t loomCommDestroy(loomComm_t comm) {
  if (!comm) return fail(nullptr, loom::invalidArgument("comm is NULL"));
  if (!loom::api::unregisterComm(comm))
    return fail(nullptr, loom::invalidUsage("comm was already destroyed or never initialized"));
  comm->impl->shutdown();
  delete comm;
  return loomSuccess;
}

LOOM_API loomResult_t loomCommAbort(loomComm_t comm) {
  if (!comm) return fail(nullptr, loom::invalidArgument("comm is NULL"));
  if (!loom::api::unregisterComm(comm))
    return fail(nullptr, loom::invalidUsage("comm was already destroyed or never initialized"));
  comm->impl->abort();
  delete comm;
  return loomSuccess;
}

LOOM_API loomResult_t loomCommSplit(loomComm_t comm, int color, int key, loomComm_t* newcomm) {
  if (Status s = loom::api::checkComm(comm); !s.isOk()) return fail(nullptr, s);
  if (!newcomm) return fail(comm, loom::invalidArgument("newcomm is NULL"));
  *newcomm = nullptr;
  if (color < 0 && color != LOOM_SPLIT_NOCOLOR)
    return fail(comm, loom::invalidArgument(fmt::format("color {} is negative (use LOOM_SPLIT_NOCOLOR)", color)));
  auto child = comm->impl->split(color, key);
  if (!child.isOk()) return fail(comm, child.status());
  if (child.value()) *newcomm = adopt(std::move(child.value()));
  return loomSuccess;
}

LOOM_API loomResult_t loomCommShrink(loomComm_t comm, const int* excludeRanksList, int excludeRanksCount,
                                     loomComm_t* newcomm) {
  if (Status s = loom::api::checkComm(comm); !s.isOk()) return fail(nullptr, s);
  if (!newcomm) return fail(comm, loom::invalidArgument("newcomm is NULL"));
  *newcomm = nullptr;
  if (excludeRanksCount < 0 || (excludeRanksCount > 0 && !excludeRanksList))
    return fail(comm, loom::invalidArgument("excludeRanksList is NULL or excludeRanksCount is negative"));
  std::vector<int> exclude(excludeRanksList, excludeRanksList + excludeRanksCount);
  auto child = comm->impl->shrink(exclude);
  if (!child.isOk()) return fail(comm, child.status());
  *newcomm = adopt(std::move(child.value()));
  return loomSuccess;
}

LOOM_API loomResult_t loomCommCount(const loomComm_t comm, int* count) {
  if (Status s = loom::api::checkComm(comm); !s.isOk()) return fail(nullptr, s);
  if (!count) return fail(comm, loom::invalidArgument("count is NULL"));
  *count = comm->impl->nranks();
  return loomSuccess;
}

LOOM_API loomResult_t loomCommUserRank(const loomComm_t comm, int* rank) {
  if (Status s = loom::api::checkComm(comm); !s.isOk()) return fail(nullptr, s);
  if (!rank) return fail(comm, loom::invalidArgument("rank is NULL"));
  *rank = comm->impl->rank();
  return loomSuccess;
}

LOOM_API loomResult_t loomCommGetAsyncError(loomComm_t comm, loomResult_t* asyncError) {
  if (Status s = loom::api::checkComm(comm); !s.isOk()) return fail(nullptr, s);
  if (!asyncError) return fail(comm, loom::invalidArgument("asyncError is NULL"));
  Status s = comm->impl->asyncError();
  *asyncError = s.code();
  if (!s.isOk()) fail(comm, s);
  return loomSuccess;
}

LOOM_API loomResult_t loomCommSetTimeout(loomComm_t comm, double seconds) {
  if (Status s = loom::api::checkComm(comm); !s.isOk()) return fail(nullptr, s);
  if (!(seconds >= 0) || seconds > 1e9)  // also NaN
    return fail(comm, loom::invalidArgument(fmt::format("timeout {} s is not in 0 (none) .. 1e9", seconds)));
  comm->impl->setTimeout(seconds);
  return loomSuccess;
}

LOOM_API loomResult_t loomCommGetTimeout(loomComm_t comm, double* seconds) {
  if (Status s = loom::api::checkComm(comm); !s.isOk()) return fail(nullptr, s);
  if (!seconds) return fail(comm, loom::invalidArgument("seconds is NULL"));
  *seconds = comm->impl->timeout();
  return loomSuccess;
}

LOOM_API loomResult_t loomCommGetFailedRanks(loomComm_t comm, int* ranks, int capacity, int* count) {
  if (Status s = loom::api::checkComm(comm); !s.isOk()) return fail(nullptr, s);
  if (!count) return fail(comm, loom::invalidArgument("count is NULL"));
  if (capacity < 0 || (capacity > 0 && !ranks))
    return fail(comm, loom::invalidArgument("ranks is NULL or capacity is negative"));
  std::vector<int> failed = comm->impl->failedRanks();
  *count = static_cast<int>(failed.size());
  for (int i = 0; i < capacity && i < *count; ++i) ranks[i] = failed[i];
  return loomSuccess;
}

LOOM_API loomResult_t loomRedOpCreatePreMulSum(loomRedOp_t* op, void* scalar, loomDataType_t datatype,
                                               loomScalarResidence_t residence, loomComm_t comm) {
  if (Status s = loom::api::checkComm(comm); !s.isOk()) return fail(nullptr, s);
  if (!op) return fail(comm, loom::invalidArgument("op is NULL"));
  if (!scalar) return fail(comm, loom::invalidArgument("scalar is NULL"));
  if (!loom::mem::isValidType(datatype))
    return fail(comm, loom::invalidArgument(fmt::format("unknown datatype {}", static_cast<int>(datatype))));
  if (residence != loomScalarDevice && residence != loomScalarHostImmediate)
    return fail(comm, loom::invalidArgument(fmt::format("unknown scalar residence {}", static_cast<int>(residence))));
  auto created = comm->impl->createPreMulSum(scalar, datatype, residence);
  if (!created.isOk()) return fail(comm, created.status());
  *op = created.value();
  return loomSuccess;
}

LOOM_API loomResult_t loomRedOpDestroy(loomRedOp_t op, loomComm_t comm) {
  if (Status s = loom::api::checkComm(comm); !s.isOk()) return fail(nullptr, s);
  return fail(comm, comm->impl->destroyRedOp(op));
}

}  // extern "C"

/* Loom: collective communication for distributed training.
 *
 * The C API is shaped like NCCL's so that NCCL users port by renaming nccl* to loom*.
 * Differences: collectives take a loomRequest_t* instead of a stream. With NULL the call
 * blocks until the operation is complete; otherwise it returns at once and the request
 * is completed with loomTest or loomWait (which also release it).
 *
 * Every function returns loomSuccess or an error code; loomGetLastError(comm) gives a
 * message naming the problem. The API is thread-safe per communicator.
 */
#ifndef LOOM_LOOM_H_
#define LOOM_LOOM_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LOOM_MAJOR 0
#define LOOM_MINOR 1
#define LOOM_PATCH 0
#define LOOM_VERSION_CODE (LOOM_MAJOR * 10000 + LOOM_MINOR * 100 + LOOM_PATCH)

#if defined(__GNUC__)
#define LOOM_API __attribute__((visibility("default")))
#else
#define LOOM_API
#endif

typedef struct loomComm* loomComm_t;
typedef struct loomRequest* loomRequest_t;

#define LOOM_UNIQUE_ID_BYTES 128
typedef struct {
  char internal[LOOM_UNIQUE_ID_BYTES];
} loomUniqueId;

typedef enum {
  loomSuccess = 0,
  loomUnhandledCudaError = 1,
  loomSystemError = 2,      /* an OS call failed (socket, shm, thread) */
  loomInternalError = 3,    /* a bug in Loom */
  loomInvalidArgument = 4,  /* a bad pointer, count, type, op, rank */
  loomInvalidUsage = 5,     /* a call that is wrong in this state (e.g. use after destroy) */
  loomRemoteError = 6,      /* a peer failed, disconnected, or disagreed on the operation */
  loomInProgress = 7,       /* a nonblocking operation is not complete yet */
  loomTimeout = 8,          /* a deadline (LOOM_TIMEOUT, LOOM_INIT_TIMEOUT) expired */
  loomNumResults = 9
} loomResult_t;

/* Numbering follows NCCL's ncclDataType_t where NCCL has the type. */
typedef enum {
  loomInt8 = 0,
  loomChar = 0,
  loomUint8 = 1,
  loomInt32 = 2,
  loomInt = 2,
  loomUint32 = 3,
  loomInt64 = 4,
  loomUint64 = 5,
  loomFloat16 = 6,
  loomHalf = 6,
  loomFloat32 = 7,
  loomFloat = 7,
  loomFloat64 = 8,
  loomDouble = 8,
  loomBfloat16 = 9,
  loomFloat8e4m3 = 10,
  loomFloat8e5m2 = 11,
  loomNumTypes = 12
} loomDataType_t;

/* Built-in ops; loomRedOpCreatePreMulSum returns further values. */
typedef enum {
  loomSum = 0,
  loomProd = 1,
  loomMax = 2,
  loomMin = 3,
  loomAvg = 4,
  loomNumOps = 5,
  loomMaxRedOp = 0x7fffffff
} loomRedOp_t;

typedef enum { loomScalarDevice = 0, loomScalarHostImmediate = 1 } loomScalarResidence_t;

/* Version as LOOM_VERSION_CODE. */
LOOM_API loomResult_t loomGetVersion(int* version);
LOOM_API const char* loomGetErrorString(loomResult_t result);

/* Creates a rendezvous id. The calling process hosts the rendezvous until all ranks of the
 * communicator that uses the id have joined (or LOOM_INIT_TIMEOUT passes). */
LOOM_API loomResult_t loomGetUniqueId(loomUniqueId* uniqueId);
LOOM_API loomResult_t loomCommInitRank(loomComm_t* comm, int nranks, loomUniqueId commId, int rank);
/* n ranks as threads of this process: comms[0..n-1]. */
LOOM_API loomResult_t loomCommInitAll(loomComm_t* comms, int n);
/* Reads the rank, size and rendezvous from loomrun, torchrun, mpirun or srun variables. */
LOOM_API loomResult_t loomCommInitFromEnv(loomComm_t* comm);
LOOM_API loomResult_t loomCommDestroy(loomComm_t comm);
/* Fails every pending operation of comm promptly and frees it; safe from any thread. */
LOOM_API loomResult_t loomCommAbort(loomComm_t comm);
/* A new communicator of the ranks that pass the same color, ordered by key (ties by rank).
 * Collective over comm. Ranks passing LOOM_SPLIT_NOCOLOR get *newcomm = NULL. */
#define LOOM_SPLIT_NOCOLOR (-1)
LOOM_API loomResult_t loomCommSplit(loomComm_t comm, int color, int key, loomComm_t* newcomm);
/* A new communicator of comm's ranks minus excludeRanksList, keeping their order. Needs no
 * communication on comm, so the survivors of a failure call it (all with the same list) to
 * carry on. */
LOOM_API loomResult_t loomCommShrink(loomComm_t comm, const int* excludeRanksList, int excludeRanksCount,
                                     loomComm_t* newcomm);
LOOM_API loomResult_t loomCommCount(const loomComm_t comm, int* count);
LOOM_API loomResult_t loomCommUserRank(const loomComm_t comm, int* rank);
/* The sticky error of comm (loomSuccess while healthy); never blocks. */
LOOM_API loomResult_t loomCommGetAsyncError(loomComm_t comm, loomResult_t* asyncError);
/* The ranks this rank knows to have failed (dead process, lost connection, missed heartbeats):
 * up to `capacity` of them in ranks[], their total in *count. Never blocks. */
LOOM_API loomResult_t loomCommGetFailedRanks(loomComm_t comm, int* ranks, int capacity, int* count);
/* This communicator's operation deadline in seconds (0: none), replacing LOOM_TIMEOUT for the
 * operations that start after the call; children made by split or shrink start from
 * LOOM_TIMEOUT again. A negative or non-finite value is loomInvalidArgument. */
LOOM_API loomResult_t loomCommSetTimeout(loomComm_t comm, double seconds);
LOOM_API loomResult_t loomCommGetTimeout(loomComm_t comm, double* seconds);
/* Message of the last error on comm (thread-local when comm is NULL). Never NULL. */
LOOM_API const char* loomGetLastError(loomComm_t comm);

LOOM_API loomResult_t loomRedOpCreatePreMulSum(loomRedOp_t* op, void* scalar, loomDataType_t datatype,
                                               loomScalarResidence_t residence, loomComm_t comm);
LOOM_API loomResult_t loomRedOpDestroy(loomRedOp_t op, loomComm_t comm);

/* Nonblocking completion. Both release the request once it is complete. */
LOOM_API loomResult_t loomTest(loomRequest_t request, int* done);
LOOM_API loomResult_t loomWait(loomRequest_t request);

/* Collectives. Buffer conventions and in-place rules are NCCL's. */
LOOM_API loomResult_t loomAllReduce(const void* sendbuff, void* recvbuff, size_t count, loomDataType_t datatype,
                                    loomRedOp_t op, loomComm_t comm, loomRequest_t* request);
LOOM_API loomResult_t loomBroadcast(const void* sendbuff, void* recvbuff, size_t count, loomDataType_t datatype,
                                    int root, loomComm_t comm, loomRequest_t* request);
LOOM_API loomResult_t loomReduce(const void* sendbuff, void* recvbuff, size_t count, loomDataType_t datatype,
                                 loomRedOp_t op, int root, loomComm_t comm, loomRequest_t* request);
/* recvbuff holds nranks * sendcount elements. */
LOOM_API loomResult_t loomAllGather(const void* sendbuff, void* recvbuff, size_t sendcount, loomDataType_t datatype,
                                    loomComm_t comm, loomRequest_t* request);
/* sendbuff holds nranks * recvcount elements. */
LOOM_API loomResult_t loomReduceScatter(const void* sendbuff, void* recvbuff, size_t recvcount,
                                        loomDataType_t datatype, loomRedOp_t op, loomComm_t comm,
                                        loomRequest_t* request);
/* count elements to and from each peer; buffers hold nranks * count elements. */
LOOM_API loomResult_t loomAllToAll(const void* sendbuff, void* recvbuff, size_t count, loomDataType_t datatype,
                                   loomComm_t comm, loomRequest_t* request);
/* Counts and displacements in elements, one per peer. */
LOOM_API loomResult_t loomAllToAllv(const void* sendbuff, const size_t sendcounts[], const size_t sdispls[],
                                    void* recvbuff, const size_t recvcounts[], const size_t rdispls[],
                                    loomDataType_t datatype, loomComm_t comm, loomRequest_t* request);
/* recvbuff (root only) holds nranks * sendcount elements. */
LOOM_API loomResult_t loomGather(const void* sendbuff, void* recvbuff, size_t sendcount, loomDataType_t datatype,
                                 int root, loomComm_t comm, loomRequest_t* request);
/* sendbuff (root only) holds nranks * recvcount elements. */
LOOM_API loomResult_t loomScatter(const void* sendbuff, void* recvbuff, size_t recvcount, loomDataType_t datatype,
                                  int root, loomComm_t comm, loomRequest_t* request);
LOOM_API loomResult_t loomSend(const void* sendbuff, size_t count, loomDataType_t datatype, int peer,
                               loomComm_t comm, loomRequest_t* request);
LOOM_API loomResult_t loomRecv(void* recvbuff, size_t count, loomDataType_t datatype, int peer, loomComm_t comm,
                               loomRequest_t* request);
LOOM_API loomResult_t loomBarrier(loomComm_t comm, loomRequest_t* request);

/* Collectives loomEstimate can predict. */
typedef enum {
  loomCollAllReduce = 0,
  loomCollBroadcast = 1,
  loomCollReduce = 2,
  loomCollAllGather = 3,
  loomCollReduceScatter = 4,
  loomCollAllToAll = 5,
  loomCollGather = 6,
  loomCollScatter = 7,
  loomNumCollectives = 8
} loomCollective_t;

/* The cost model's prediction for `collective` with `count` elements of `datatype` (count as
 * that collective's own count argument) on comm: the algorithm a call would run, honouring
 * LOOM_ALGO (*algorithm: a static string such as "ring"; may be NULL), and its predicted time
 * in microseconds. Local: no communication. */
LOOM_API loomResult_t loomEstimate(loomComm_t comm, loomCollective_t collective, size_t count,
                                   loomDataType_t datatype, const char** algorithm, double* microseconds);
/* As loomEstimate, but the time per call when the same call repeats back to back (a loop's
 * steady state, what a benchmark loop measures). Consecutive calls overlap where a rank may start
 * the next before the others finish (a broadcast's root runs ahead), so this can be less than
 * loomEstimate's single call; algorithm selection minimises this figure. */
LOOM_API loomResult_t loomEstimateRepeated(loomComm_t comm, loomCollective_t collective, size_t count,
                                           loomDataType_t datatype, const char** algorithm,
                                           double* microsecondsPerCall);

/* Host memory for communication buffers, as NCCL's ncclMemAlloc: page-aligned, and from 2 MiB
 * up aligned to 2 MiB and advised to use transparent huge pages, which a peer on the same host
 * reads two to three times faster in a single copy than memory of 4 KiB pages (see
 * docs/performance.md). Zero-filled. Free it with loomMemFree; any buffer works with every call,
 * this one is only faster. loomMemFree(NULL) does nothing; a pointer loomMemAlloc did not return
 * is loomInvalidArgument. */
LOOM_API loomResult_t loomMemAlloc(void** ptr, size_t size);
LOOM_API loomResult_t loomMemFree(void* ptr);

/* Sends and receives issued between these calls (on this thread) run as one step at
 * loomGroupEnd, which blocks until they are complete. Groups nest. */
LOOM_API loomResult_t loomGroupStart(void);
LOOM_API loomResult_t loomGroupEnd(void);

#ifdef __cplusplus
}
#endif

#endif /* LOOM_LOOM_H_ */

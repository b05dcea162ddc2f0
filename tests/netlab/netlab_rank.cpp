// Rank program for the network lab: all-reduces in a loop, each result checked element-wise,
// so faults injected from outside (kill, stop, cable pulled, rate limit) show up as errors with
// a timestamp, and never as wrong data reported as success.
//
//   netlab_rank [--seconds S] [--iters MAX] [--count N] [--victim R[,R...]] [--after K] [--verbose]
//   netlab_rank --make-id [--seconds S]   prints "id HEX" (a loomGetUniqueId on this host's
//                                         chosen interface) and hosts that rendezvous for S s:
//                                         the lab's loomrun-style launch (LOOM_UNIQUE_ID)
//
// Rank 0 decides when to stop (after S seconds or MAX iterations) and says so inside the very
// all-reduce it checks (one extra element), so every rank runs the same number of iterations.
// Lines on stdout (the tests parse them):
//   pid P
//   NETLAB init rank=R nranks=N ms=T
//   NETLAB progress rank=R iters=K            (every 250 ms)
//   NETLAB iter=K ok us=U                     (--verbose only)
//   NETLAB FAIL rank=R iter=K code=NAME wall_ms=UNIX_MS since_ok_ms=X async=NAME msg=...
//   NETLAB WRONG rank=R iter=K elem=I got=G expected=E
//   NETLAB shrink rank=R ok|failed ms=T ...   (survivors, after a failure, with --victim)
//   NETLAB done rank=R iters=K max_iter_ms=M result=ok
// Exit: 0 every iteration correct (and, after a shrink, K more correct ones), 1 wrong data,
// 3 init failed, 4 remote error, 5 timeout, 6 other error, 2 bad usage.
#include <loom/loom.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

long long wallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
double msSince(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

struct Options {
  double seconds = 3;
  long maxIters = -1;
  size_t count = 4096;
  std::vector<int> victims;  // ranks the survivors exclude when they shrink
  long after = 20;
  bool verbose = false;
  bool makeId = false;
};

const char* resultName(loomResult_t r) {
  switch (r) {
    case loomSuccess: return "loomSuccess";
    case loomSystemError: return "loomSystemError";
    case loomInternalError: return "loomInternalError";
    case loomInvalidArgument: return "loomInvalidArgument";
    case loomInvalidUsage: return "loomInvalidUsage";
    case loomRemoteError: return "loomRemoteError";
    case loomInProgress: return "loomInProgress";
    case loomTimeout: return "loomTimeout";
    default: return "other";
  }
}

int exitCodeFor(loomResult_t r) { return r == loomRemoteError ? 4 : r == loomTimeout ? 5 : 6; }

int32_t inputValue(int rank, long iter, size_t i) { return (rank + 1) * static_cast<int32_t>(i % 97 + 1) + iter % 1000; }
int32_t expected(int n, long iter, size_t i) {
  return n * (n + 1) / 2 * static_cast<int32_t>(i % 97 + 1) + n * static_cast<int32_t>(iter % 1000);
}

struct LoopResult {
  loomResult_t code = loomSuccess;
  long iters = 0;
  bool wrong = false;
};

// Runs checked all-reduces on comm until rank 0 says stop; stops at the first error or wrong value.
LoopResult runLoop(loomComm_t comm, const Options& o, double seconds, long maxIters, int tagRank) {
  int rank = 0, n = 0;
  loomCommUserRank(comm, &rank);
  loomCommCount(comm, &n);
  std::vector<int32_t> buf(o.count + 1);
  LoopResult res;
  auto start = Clock::now(), lastOk = Clock::now(), lastProgress = Clock::now();
  double maxIterMs = 0;
  for (long it = 0;; ++it) {
    for (size_t i = 0; i < o.count; ++i) buf[i] = inputValue(rank, it, i);
    bool stop = (maxIters >= 0 && it + 1 >= maxIters) || msSince(start) >= seconds * 1000;
    buf[o.count] = rank == 0 && stop ? 1 : 0;
    auto t0 = Clock::now();
    loomResult_t r = loomAllReduce(buf.data(), buf.data(), buf.size(), loomInt32, loomSum, comm, nullptr);
    double iterMs = msSince(t0);
    if (r != loomSuccess) {
      loomResult_t async = loomSuccess;
      loomCommGetAsyncError(comm, &async);
      std::printf("NETLAB FAIL rank=%d iter=%ld code=%s wall_ms=%lld since_ok_ms=%.0f async=%s msg=%s\n", tagRank, it,
                  resultName(r), wallMs(), msSince(lastOk), resultName(async), loomGetLastError(comm));
      res.code = r;
      res.iters = it;
      return res;
    }
    for (size_t i = 0; i < o.count; ++i) {
      if (buf[i] != expected(n, it, i)) {
        std::printf("NETLAB WRONG rank=%d iter=%ld elem=%zu got=%d expected=%d\n", tagRank, it, i, buf[i],
                    expected(n, it, i));
        res.wrong = true;
        res.iters = it;
        return res;
      }
    }
    if (buf[o.count] != 0 && buf[o.count] != 1) {
      std::printf("NETLAB WRONG rank=%d iter=%ld elem=control got=%d expected=0|1\n", tagRank, it, buf[o.count]);
      res.wrong = true;
      return res;
    }
    lastOk = Clock::now();
    if (iterMs > maxIterMs) maxIterMs = iterMs;
    if (o.verbose) std::printf("NETLAB iter=%ld ok us=%.0f\n", it, iterMs * 1000);
    if (msSince(lastProgress) >= 250) {
      std::printf("NETLAB progress rank=%d iters=%ld\n", tagRank, it + 1);
      lastProgress = Clock::now();
    }
    if (buf[o.count] == 1) {
      res.iters = it + 1;
      std::printf("NETLAB loop rank=%d iters=%ld max_iter_ms=%.1f\n", tagRank, res.iters, maxIterMs);
      return res;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", k.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (k == "--seconds") o.seconds = std::atof(next());
    else if (k == "--iters") o.maxIters = std::atol(next());
    else if (k == "--count") o.count = std::strtoull(next(), nullptr, 10);
    else if (k == "--victim") {
      for (const char* p = next(); *p;) {
        char* end = nullptr;
        o.victims.push_back(static_cast<int>(std::strtol(p, &end, 10)));
        p = *end == ',' ? end + 1 : end;
        if (end == p && *p) break;
      }
    }
    else if (k == "--after") o.after = std::atol(next());
    else if (k == "--verbose") o.verbose = true;
    else if (k == "--make-id") o.makeId = true;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  setvbuf(stdout, nullptr, _IOLBF, 0);
  if (o.makeId) {
    loomUniqueId id;
    if (loomGetUniqueId(&id) != loomSuccess) {
      std::printf("NETLAB make-id failed: %s\n", loomGetLastError(nullptr));
      return 3;
    }
    std::string hex;
    for (unsigned char c : id.internal) hex += "0123456789abcdef"[c >> 4], hex += "0123456789abcdef"[c & 15];
    std::printf("id %s\n", hex.c_str());
    usleep(static_cast<useconds_t>(o.seconds * 1e6));
    return 0;
  }
  std::printf("pid %d\n", getpid());
  auto t0 = Clock::now();
  loomComm_t comm = nullptr;
  if (loomCommInitFromEnv(&comm) != loomSuccess) {
    std::printf("NETLAB initfail wall_ms=%lld msg=%s\n", wallMs(), loomGetLastError(nullptr));
    return 3;
  }
  int rank = 0, n = 0;
  loomCommUserRank(comm, &rank);
  loomCommCount(comm, &n);
  std::printf("NETLAB init rank=%d nranks=%d ms=%.0f\n", rank, n, msSince(t0));

  LoopResult res = runLoop(comm, o, o.seconds, o.maxIters, rank);
  if (res.wrong) {
    loomCommAbort(comm);
    return 1;
  }
  if (res.code == loomSuccess) {
    loomCommDestroy(comm);
    std::printf("NETLAB done rank=%d iters=%ld result=ok\n", rank, res.iters);
    return 0;
  }
  bool victim = false;
  for (int v : o.victims) victim |= v == rank || v < 0 || v >= n;
  if (o.victims.empty() || victim) {
    loomCommAbort(comm);
    return exitCodeFor(res.code);
  }
  auto ts = Clock::now();
  loomComm_t small = nullptr;
  loomResult_t sr = loomCommShrink(comm, o.victims.data(), static_cast<int>(o.victims.size()), &small);
  if (sr != loomSuccess) {
    std::printf("NETLAB shrink rank=%d failed ms=%.0f code=%s msg=%s\n", rank, msSince(ts), resultName(sr),
                loomGetLastError(comm));
    loomCommAbort(comm);
    return exitCodeFor(sr);
  }
  int newRank = -1, newN = 0;
  loomCommUserRank(small, &newRank);
  loomCommCount(small, &newN);
  std::printf("NETLAB shrink rank=%d ok ms=%.0f newrank=%d newsize=%d\n", rank, msSince(ts), newRank, newN);
  loomCommAbort(comm);
  LoopResult after = runLoop(small, o, 1e9, o.after, rank);
  if (after.wrong) {
    loomCommAbort(small);
    return 1;
  }
  if (after.code != loomSuccess) {
    loomCommAbort(small);
    return exitCodeFor(after.code);
  }
  loomCommDestroy(small);
  std::printf("NETLAB done rank=%d iters=%ld after_shrink=%ld result=ok\n", rank, res.iters, after.iters);
  return 0;
}

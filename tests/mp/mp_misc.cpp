// Small multi-process scenarios for launcher and clean-up tests.
//   mp_misc quick          init from the environment, all-reduce, check, print, destroy
//   mp_misc crash RANK     RANK kills itself with SIGKILL after init; the others all-reduce
//   mp_misc survive RANK kill|stop
//                          all-reduce in a loop; at iteration 20 RANK SIGKILLs or SIGSTOPs itself;
//                          the others report the error and detection time, shrink around the
//                          failed ranks and check 10 more all-reduces (exit 0), or exit 5 when no
//                          rank is known to have failed (a timeout)
//   mp_misc mismatch       rank 0 all-reduces 4 floats, the others 5: prints the error (exit 8),
//                          or exits 1 if the call succeeded
#include <loom/loom.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

int survive(loomComm_t comm, int rank, int n, int victim, const char* how) {
  double lastOk = now();
  for (int i = 0;; ++i) {
    if (rank == victim && i == 20) kill(getpid(), std::strcmp(how, "stop") ? SIGKILL : SIGSTOP);
    std::vector<int> v(4096, rank + 1);
    loomResult_t r = loomAllReduce(v.data(), v.data(), v.size(), loomInt32, loomSum, comm, nullptr);
    if (r == loomSuccess) {
      if (v[0] != n * (n + 1) / 2) return 1;
      lastOk = now();
      continue;
    }
    std::printf("rank %d: %s after %.2f s at iteration %d: %s\n", rank, loomGetErrorString(r), now() - lastOk, i,
                loomGetLastError(comm));
    int failed[64], count = 0;
    loomCommGetFailedRanks(comm, failed, 64, &count);
    if (count == 0) {
      // Close cleanly: a survivor still asking loomCommGetFailedRanks must not count this
      // rank's exit as a failure and go on to shrink around it (waiting for the stopped rank).
      loomCommAbort(comm);
      return 5;
    }
    double t0 = now();
    loomComm_t small = nullptr;
    if (loomCommShrink(comm, failed, count, &small) != loomSuccess) {
      std::printf("rank %d: shrink failed: %s\n", rank, loomGetLastError(comm));
      return 6;
    }
    int newRank = 0, newSize = 0;
    loomCommUserRank(small, &newRank);
    loomCommCount(small, &newSize);
    std::printf("rank %d: shrunk to rank %d of %d in %.3f s\n", rank, newRank, newSize, now() - t0);
    for (int k = 0; k < 10; ++k) {
      std::vector<int> w(4096, newRank + 1);
      if (loomAllReduce(w.data(), w.data(), w.size(), loomInt32, loomSum, small, nullptr) != loomSuccess ||
          w[4095] != newSize * (newSize + 1) / 2) {
        std::printf("rank %d: allreduce after shrink failed: %s\n", rank, loomGetLastError(small));
        return 7;
      }
    }
    std::printf("rank %d: 10 allreduces after shrink ok\n", rank);
    loomCommDestroy(small);
    loomCommAbort(comm);
    return 0;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "quick";
  std::printf("pid %d\n", getpid());
  std::fflush(stdout);
  loomComm_t comm = nullptr;
  if (loomCommInitFromEnv(&comm) != loomSuccess) {
    std::fprintf(stderr, "init failed: %s\n", loomGetLastError(nullptr));
    return 3;
  }
  int rank = 0, n = 0;
  loomCommUserRank(comm, &rank);
  loomCommCount(comm, &n);
  if (!std::strcmp(mode, "survive")) return survive(comm, rank, n, std::atoi(argv[2]), argv[3]);
  if (!std::strcmp(mode, "mismatch")) {
    std::vector<float> w(rank ? 5 : 4, 1.0f);
    loomResult_t r = loomAllReduce(w.data(), w.data(), w.size(), loomFloat32, loomSum, comm, nullptr);
    std::printf("rank %d: %s: %s\n", rank, loomGetErrorString(r), r ? loomGetLastError(comm) : "not detected");
    loomCommAbort(comm);
    return r ? 8 : 1;
  }
  std::vector<int> v(1000, rank + 1);
  if (!std::strcmp(mode, "crash") && argc > 2 && rank == std::atoi(argv[2])) kill(getpid(), SIGKILL);
  if (loomAllReduce(v.data(), v.data(), v.size(), loomInt32, loomSum, comm, nullptr) != loomSuccess) {
    std::fprintf(stderr, "rank %d: allreduce failed: %s\n", rank, loomGetLastError(comm));
    return 4;
  }
  bool good = v[0] == n * (n + 1) / 2 && v[999] == v[0];
  std::printf("rank %d/%d %s\n", rank, n, good ? "ok" : "WRONG");
  loomCommDestroy(comm);
  return good ? 0 : 1;
}

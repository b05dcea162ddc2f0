// Small multi-process scenarios for launcher and clean-up tests.
//   mp_misc quick          init from the environment, all-reduce, check, print, destroy
//   mp_misc crash RANK     RANK kills itself with SIGKILL after init; the others all-reduce
#include <loom/loom.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

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

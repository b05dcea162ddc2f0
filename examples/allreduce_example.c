/* The quick-start example: every rank all-reduces a vector, checks the result and prints the
 * time. Run with: loomrun -n 4 ./allreduce_example [count] */
#include <loom/loom.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHECK(call)                                                                            \
  do {                                                                                         \
    loomResult_t r_ = (call);                                                                  \
    if (r_ != loomSuccess) {                                                                   \
      fprintf(stderr, "%s failed: %s: %s\n", #call, loomGetErrorString(r_), loomGetLastError(comm)); \
      return 1;                                                                                \
    }                                                                                          \
  } while (0)

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char** argv) {
  size_t count = argc > 1 ? strtoull(argv[1], NULL, 10) : (size_t)1 << 22;
  loomComm_t comm = NULL;
  CHECK(loomCommInitFromEnv(&comm));
  int rank, nranks;
  CHECK(loomCommUserRank(comm, &rank));
  CHECK(loomCommCount(comm, &nranks));

  float* data = malloc(count * sizeof(float));
  for (size_t i = 0; i < count; ++i) data[i] = (float)(rank + 1) + (float)(i % 7);
  CHECK(loomAllReduce(data, data, count, loomFloat32, loomSum, comm, NULL)); /* warm-up, in place */

  for (size_t i = 0; i < count; ++i) data[i] = (float)(rank + 1) + (float)(i % 7);
  double t0 = now();
  CHECK(loomAllReduce(data, data, count, loomFloat32, loomSum, comm, NULL));
  double seconds = now() - t0;

  size_t wrong = 0;
  for (size_t i = 0; i < count; ++i) {
    float expect = (float)(nranks * (nranks + 1) / 2) + (float)(nranks * (i % 7));
    if (data[i] != expect) ++wrong;
  }
  double bytes = (double)count * sizeof(float);
  double busbw = bytes / seconds * 2.0 * (nranks - 1) / nranks / 1e9;
  printf("rank %d/%d: allreduce of %zu floats: %s, %.3f ms, busbw %.2f GB/s\n", rank, nranks, count,
         wrong ? "WRONG" : "correct", seconds * 1e3, busbw);
  free(data);
  CHECK(loomCommDestroy(comm));
  return wrong ? 2 : 0;
}

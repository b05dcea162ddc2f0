// The reference programs' benchmark buffers (mpi_bench, gloo_bench): plain, or with -R 1 the
// memory `loom bench -R 1` runs on.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <loom/loom.h>

namespace peers {

// A benchmark buffer, filled with `fill` once so page faults stay out of the timing. With -R 1 it
// comes from loomMemAlloc (2 MiB aligned, huge pages advised), the memory `loom bench -R 1` runs on:
// bench/compare --hugepages hands every library the same kind of pages. Otherwise a plain vector.
class FloatBuffer {
 public:
  FloatBuffer(size_t elems, float fill, bool loomMemory) {
    if (!loomMemory) {
      plain_.assign(elems, fill);
      data_ = plain_.data();
      return;
    }
    void* p = nullptr;
    loomResult_t rc = loomMemAlloc(&p, elems * sizeof(float));
    if (rc != loomSuccess) {
      std::fprintf(stderr, "loomMemAlloc of %zu bytes failed: %s\n", elems * sizeof(float), loomGetErrorString(rc));
      std::exit(2);
    }
    loomMem_ = p;
    data_ = static_cast<float*>(p);
    std::fill(data_, data_ + elems, fill);
  }
  ~FloatBuffer() { loomMemFree(loomMem_); }
  FloatBuffer(const FloatBuffer&) = delete;
  FloatBuffer& operator=(const FloatBuffer&) = delete;
  float* data() { return data_; }

 private:
  std::vector<float> plain_;
  void* loomMem_ = nullptr;
  float* data_ = nullptr;
};

}  // namespace peers

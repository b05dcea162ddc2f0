// The reference programs' benchmark buffers (mpi_bench, gloo_bench), allocated as `loom bench`
// allocates its own (BenchBuffer in tools/loom/bench_coll.cpp), so every library copies between
// buffers of the same alignment and page size.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>

#include <loom/loom.h>

namespace peers {

// Frees what FloatBuffer allocated, the way it was allocated.
struct FloatBufferFree {
  bool loomMemory = false;
  void operator()(float* p) const {
    if (loomMemory) loomMemFree(p);
    else std::free(p);
  }
};

// A float buffer filled with `fill` once, so page faults stay out of the timing. Page-aligned by
// default (a large std::vector starts 16 B past a page, where glibc's memcpy between two such
// buffers runs its slow path: tuning history in docs/performance.md); with -R 1 from loomMemAlloc
// (2 MiB aligned, huge pages advised), as `loom bench -R 1`. Throws std::runtime_error on failure.
class FloatBuffer {
 public:
  FloatBuffer(size_t elems, float fill, bool loomMemory) {
    const size_t bytes = std::max<size_t>(elems, 1) * sizeof(float);
    void* p = nullptr;
    if (loomMemory) {
      if (loomMemAlloc(&p, bytes) != loomSuccess)
        throw std::runtime_error(std::string("loomMemAlloc: ") + loomGetLastError(nullptr));
    } else if (!(p = std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096))) {
      throw std::runtime_error("aligned_alloc of " + std::to_string(bytes) + " bytes failed");
    }
    data_.reset(static_cast<float*>(p));
    data_.get_deleter().loomMemory = loomMemory;
    std::fill(data_.get(), data_.get() + elems, fill);
  }
  float* data() { return data_.get(); }

 private:
  std::unique_ptr<float, FloatBufferFree> data_;
};

}  // namespace peers

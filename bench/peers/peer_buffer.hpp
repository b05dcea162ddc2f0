// The reference programs' benchmark buffers (mpi_bench, gloo_bench), allocated as `loom bench`
// allocates its own (BenchBuffer in tools/loom/bench_coll.cpp), so every library copies between
// buffers of the same alignment and page size.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>

#include <loom/loom.hpp>

namespace peers {

// A float buffer filled with `fill` once, so page faults stay out of the timing. Page-aligned by
// default (a large std::vector starts 16 B past a page, where glibc's memcpy between two such
// buffers runs its slow path: tuning history in docs/performance.md); with -R 1 from loomMemAlloc
// (2 MiB aligned, huge pages advised), as `loom bench -R 1`. Throws std::runtime_error (loom::Error
// is one) on failure.
class FloatBuffer {
 public:
  FloatBuffer(size_t elems, float fill, bool loomMemory) {
    if (loomMemory) {
      loom_ = loom::HostBuffer<float>(elems);
    } else {
      const size_t bytes = std::max<size_t>(elems, 1) * sizeof(float);
      plain_.reset(static_cast<float*>(std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096)));
      if (!plain_) throw std::runtime_error("aligned_alloc of " + std::to_string(bytes) + " bytes failed");
    }
    std::fill(data(), data() + elems, fill);
  }
  float* data() { return loom_.data() ? loom_.data() : plain_.get(); }

 private:
  loom::HostBuffer<float> loom_{0};
  std::unique_ptr<float, decltype(&std::free)> plain_{nullptr, &std::free};
};

}  // namespace peers

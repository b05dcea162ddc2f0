// Host memory for large communication buffers: page-aligned, and from 2 MiB up aligned to 2 MiB
// and marked for transparent huge pages (madvise MADV_HUGEPAGE), which most distributions grant
// only to memory that asks ("madvise" mode). Why: a single-copy read (process_vm_readv) pins
// and copies the sender's memory page by page; on the AMD EPYC development VM it read 16 MiB
// from 4 KiB pages at 4-6.6 GB/s and from huge pages at 13-18 GB/s. Backs loomMemAlloc.
#pragma once

#include <cstddef>

#include "core/status.hpp"

namespace loom::os {

inline constexpr size_t kHugePageBytes = size_t(2) << 20;

class HostMemory {
 public:
  HostMemory() = default;
  HostMemory(HostMemory&& o) noexcept;
  HostMemory& operator=(HostMemory&& o) noexcept;
  HostMemory(const HostMemory&) = delete;
  HostMemory& operator=(const HostMemory&) = delete;
  ~HostMemory();

  // Zero-filled (anonymous memory) and not yet faulted in: the first touch places each page
  // (NUMA first touch). bytes == 0 fails.
  static Result<HostMemory> allocate(size_t bytes);

  void* data() const { return data_; }
  size_t size() const { return size_; }  // the mapping: bytes rounded up to the page (or 2 MiB)
  // Whether the kernel accepted the huge-page advice (it still grants huge pages only where it
  // has them; none below 2 MiB).
  bool hugePageAdvice() const { return huge_; }

 private:
  void release();
  void* data_ = nullptr;
  size_t size_ = 0;
  bool huge_ = false;
};

}  // namespace loom::os

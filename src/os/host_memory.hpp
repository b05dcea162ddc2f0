// Host memory for large communication buffers: page-aligned, and from 2 MiB up aligned to 2 MiB
// and marked for transparent huge pages (madvise MADV_HUGEPAGE), which most distributions grant
// only to memory that asks ("madvise" mode). Why: a single-copy read (process_vm_readv) pins
// and copies the sender's memory page by page; on the AMD EPYC development VM it read 16 MiB
// from 4 KiB pages at 4-6.6 GB/s and from huge pages at 13-18 GB/s. Backs loomMemAlloc.
#pragma once

#include <cstddef>
#include <memory>

#include "core/status.hpp"

namespace loom::os {

inline constexpr size_t kHugePageBytes = size_t(2) << 20;

// HostMemory's deleter: munmap of the whole mapping.
struct Unmap {
  size_t bytes = 0;
  void operator()(void* p) const;
};

class HostMemory {
 public:
  // Zero-filled (anonymous memory) and not yet faulted in: the first touch places each page
  // (NUMA first touch). bytes == 0 fails.
  static Result<HostMemory> allocate(size_t bytes);

  void* data() const { return map_.get(); }
  // The mapping: bytes rounded up to the page (or 2 MiB); 0 once moved from.
  size_t size() const { return map_ ? map_.get_deleter().bytes : 0; }
  // Whether the kernel accepted the huge-page advice (it still grants huge pages only where it
  // has them; none below 2 MiB).
  bool hugePageAdvice() const { return map_ && huge_; }

 private:
  std::unique_ptr<void, Unmap> map_;  // moves leave it empty: nothing is unmapped twice
  bool huge_ = false;
};

}  // namespace loom::os

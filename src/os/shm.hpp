// POSIX shared-memory segments: create (exclusive, sparse via ftruncate) or open, mapped
// read-write and shared. The mapping outlives unlink(); the destructor unmaps and, if this
// object created the name and has not unlinked it yet, unlinks it.
#pragma once

#include <cstddef>
#include <string>

#include "core/status.hpp"

namespace loom::os {

class ShmSegment {
 public:
  ShmSegment() = default;
  ShmSegment(ShmSegment&& o) noexcept;
  ShmSegment& operator=(ShmSegment&& o) noexcept;
  ShmSegment(const ShmSegment&) = delete;
  ShmSegment& operator=(const ShmSegment&) = delete;
  ~ShmSegment();

  static Result<ShmSegment> create(const std::string& name, size_t bytes);
  // Opens an existing segment; fails if it is smaller than `bytes`; bytes == 0 maps it whole.
  static Result<ShmSegment> open(const std::string& name, size_t bytes);

  void unlink();  // removes the name (idempotent); the mapping stays valid
  void* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& name() const { return name_; }
  bool valid() const { return data_ != nullptr; }
  // Faults [at, at + bytes) of this segment into this mapping now (writable when `write`; on
  // shared memory a read fault also allocates the page), so that the hot path takes no page
  // fault there later. Best effort: where the kernel refuses (memory or tmpfs space short), the
  // pages are left to fault where they are used, as without this.
  void prefault(size_t at, size_t bytes, bool write) const;

 private:
  void release();
  std::string name_;
  void* data_ = nullptr;
  size_t size_ = 0;
  bool owner_ = false;  // we created the name and still have to unlink it
};

}  // namespace loom::os

#include "os/shm.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "os/fd.hpp"

namespace loom::os {

ShmSegment::ShmSegment(ShmSegment&& o) noexcept
    : name_(std::move(o.name_)), data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)),
      owner_(std::exchange(o.owner_, false)) {}

ShmSegment& ShmSegment::operator=(ShmSegment&& o) noexcept {
  if (this != &o) {
    release();
    name_ = std::move(o.name_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    owner_ = std::exchange(o.owner_, false);
  }
  return *this;
}

ShmSegment::~ShmSegment() { release(); }

void ShmSegment::release() {
  if (data_) ::munmap(data_, size_);
  data_ = nullptr;
  unlink();
}

void ShmSegment::unlink() {
  if (owner_) ::shm_unlink(name_.c_str());
  owner_ = false;
}

void ShmSegment::prefault(size_t at, size_t bytes, bool write) const {
  if (!data_ || at >= size_ || bytes == 0) return;
  bytes = std::min(bytes, size_ - at);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t first = at / page * page;
  char* base = static_cast<char*>(data_);
#if defined(MADV_POPULATE_READ) && defined(MADV_POPULATE_WRITE)
  // One call instead of a fault per page. Kernels before 5.14 lack it (EINVAL): touch the pages
  // then. Any other error means a touch could kill the process (SIGBUS on a full tmpfs).
  if (::madvise(base + first, at + bytes - first, write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ) == 0 ||
      errno != EINVAL)
    return;
#endif
  volatile char* p = base;
  for (size_t off = first; off < at + bytes; off += page) {
    if (write) p[off] = p[off];
    else (void)p[off];
  }
}

Result<ShmSegment> ShmSegment::create(const std::string& name, size_t bytes) {
  UniqueFd fd(::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return systemError("shm_open(" + name + ")", errno);
  ShmSegment seg;
  seg.name_ = name;
  seg.owner_ = true;  // from here on the destructor unlinks
  if (::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0) return systemError("ftruncate(" + name + ")", errno);
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (p == MAP_FAILED) return systemError("mmap(" + name + ")", errno);
  seg.data_ = p;
  seg.size_ = bytes;
  return seg;
}

Result<ShmSegment> ShmSegment::open(const std::string& name, size_t bytes) {
  UniqueFd fd(::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0600));
  if (!fd.valid()) return systemError("shm_open(" + name + ")", errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return systemError("fstat(" + name + ")", errno);
  if (static_cast<size_t>(st.st_size) < bytes)
    return internalError("shared memory segment " + name + " has " + std::to_string(st.st_size) +
                         " bytes, expected " + std::to_string(bytes));
  if (bytes == 0) bytes = static_cast<size_t>(st.st_size);
  if (bytes == 0) return internalError("shared memory segment " + name + " is empty");
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (p == MAP_FAILED) return systemError("mmap(" + name + ")", errno);
  ShmSegment seg;
  seg.name_ = name;
  seg.data_ = p;
  seg.size_ = bytes;
  return seg;
}

}  // namespace loom::os

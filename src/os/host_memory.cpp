#include "os/host_memory.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>

namespace loom::os {
namespace {

size_t roundUp(size_t n, size_t to) { return (n + to - 1) / to * to; }

}  // namespace

void Unmap::operator()(void* p) const { ::munmap(p, bytes); }

Result<HostMemory> HostMemory::allocate(size_t bytes) {
  if (bytes == 0) return invalidArgument("host memory of 0 bytes");
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  if (bytes > SIZE_MAX / 2) return invalidArgument("host memory of " + std::to_string(bytes) + " bytes: too large");
  const bool huge = bytes >= kHugePageBytes;
  const size_t len = roundUp(bytes, huge ? kHugePageBytes : page);
  // Over-map by one huge page and trim both ends, so that the start lies on a 2 MiB boundary
  // (huge pages only back whole aligned 2 MiB ranges).
  const size_t mapped = huge ? len + kHugePageBytes : len;
  void* p = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return systemError("mmap of " + std::to_string(mapped) + " bytes of host memory", errno);
  auto* start = static_cast<uint8_t*>(p);
  if (huge) {
    auto* aligned = reinterpret_cast<uint8_t*>(roundUp(reinterpret_cast<uintptr_t>(start), kHugePageBytes));
    if (aligned > start) ::munmap(start, static_cast<size_t>(aligned - start));
    uint8_t* end = aligned + len;
    if (start + mapped > end) ::munmap(end, static_cast<size_t>(start + mapped - end));
    start = aligned;
  }
  HostMemory m;
  m.map_ = std::unique_ptr<void, Unmap>(start, Unmap{len});
  // Best effort: a kernel without transparent huge pages refuses the advice, and the memory
  // still works with small pages.
  m.huge_ = huge && ::madvise(start, len, MADV_HUGEPAGE) == 0;
  return m;
}

}  // namespace loom::os

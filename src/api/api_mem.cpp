// Host memory for communication buffers (loomMemAlloc, loomMemFree), as NCCL's ncclMemAlloc.
#include <fmt/format.h>

#include <cerrno>
#include <cstdint>
#include <map>
#include <mutex>
#include <new>

#include "api/handles.hpp"
#include "os/host_memory.hpp"

using loom::api::fail;

namespace {

// Every live allocation by its start, so that loomMemFree can refuse what it did not hand out.
struct Allocations {
  std::mutex mu;
  std::map<uintptr_t, loom::os::HostMemory> live;
};

Allocations& allocations() {
  static auto* a = new Allocations;  // never destroyed: frees may come from other static destructors
  return *a;
}

}  // namespace

extern "C" {

LOOM_API loomResult_t loomMemAlloc(void** ptr, size_t size) {
  if (!ptr) return fail(nullptr, loom::invalidArgument("ptr is NULL"));
  *ptr = nullptr;
  if (size == 0) return fail(nullptr, loom::invalidArgument("size is 0"));
  auto m = loom::os::HostMemory::allocate(size);
  if (!m.isOk()) return fail(nullptr, m.status());
  void* p = m.value().data();
  auto& a = allocations();
  std::lock_guard lock(a.mu);
  try {
    a.live.emplace(reinterpret_cast<uintptr_t>(p), std::move(m.value()));
  } catch (const std::bad_alloc&) {  // the map's node; the mapping is released on the way out
    return fail(nullptr, loom::systemError("loomMemAlloc: recording the allocation", ENOMEM));
  }
  *ptr = p;
  return loomSuccess;
}

LOOM_API loomResult_t loomMemFree(void* ptr) {
  if (!ptr) return loomSuccess;  // as free(NULL)
  loom::os::HostMemory doomed;   // unmapped after the lock is released
  {
    auto& a = allocations();
    std::lock_guard lock(a.mu);
    auto it = a.live.find(reinterpret_cast<uintptr_t>(ptr));
    if (it == a.live.end())
      return fail(nullptr, loom::invalidArgument(fmt::format(
                               "ptr {} was not returned by loomMemAlloc, or was freed already", ptr)));
    doomed = std::move(it->second);
    a.live.erase(it);
  }
  return loomSuccess;
}

}  // extern "C"

// Whether this process may read its own memory with process_vm_readv: false where seccomp or the
// kernel forbid it (then the transport keeps every message in the ring and calibration measures
// no single-copy rate).
#pragma once

#include <sys/uio.h>
#include <unistd.h>

#include <cstdint>

inline bool canReadOwnMemory() {
  uint64_t src = 42, dst = 0;
  iovec l{&dst, sizeof dst}, r{&src, sizeof src};
  return process_vm_readv(getpid(), &l, 1, &r, 1, 0) == static_cast<ssize_t>(sizeof dst) && dst == 42;
}

// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of iSCSI, ext4 and
// SCTP, used for the optional per-frame checksum (LOOM_CHECKSUM=1). x86-64 CPUs with SSE4.2
// compute it in hardware (crc32 instruction, chosen at run time); elsewhere a slicing-by-8
// table does.
#pragma once

#include <cstddef>
#include <cstdint>

namespace loom::transport {

// CRC32C of `bytes` bytes, continuing from `crc` (the result of an earlier call; 0 to start):
// crc32c(b, n + m) == crc32c(b + n, m, crc32c(b, n)).
uint32_t crc32c(const void* data, size_t bytes, uint32_t crc = 0);
// The table implementation, for tests comparing both paths.
uint32_t crc32cPortable(const void* data, size_t bytes, uint32_t crc = 0);
// Whether crc32c() uses the CPU's instruction.
bool crc32cHardware();

}  // namespace loom::transport

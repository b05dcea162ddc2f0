// The library's bulk copy (staging slots, local schedule steps, deliveries). Header-only, so the
// transport's fuzz build needs no extra library.
//
// Why not plain memcpy: glibc copies mid-size blocks with `rep movsb`, which on AMD Zen (this
// project's development VM) crawls when the destination lies just past the source modulo 4 KiB:
// 64 KiB in 31 us (2.1 GB/s) instead of 1.4 us. Measured slow at 8, 16 and 24 bytes (a sweep in
// 8-byte steps); any skew under a cache line counts here, to be safe. Two neighbouring malloc'd
// buffers sit exactly so (16 bytes of malloc header apart). Those copies go through 64-byte
// vector moves instead (37 GB/s for the same 64 KiB).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#if defined(__x86_64__)
#include <emmintrin.h>
#endif

namespace loom::mem {

// True when a forward copy from src to dst hits the slow `rep movsb` case described above.
inline bool copyAliasesPage(const void* dst, const void* src) {
  const uintptr_t skew = (reinterpret_cast<uintptr_t>(dst) - reinterpret_cast<uintptr_t>(src)) & 4095;
  return skew != 0 && skew < 64;
}

// memmove's contract (overlap allowed), memcpy's speed whatever the two addresses.
inline void copyBytes(void* dst, const void* src, size_t n) {
  auto* d = static_cast<char*>(dst);
  const auto* s = static_cast<const char*>(src);
  const bool overlap = d < s + n && s < d + n;
  if (n < 512 || overlap || !copyAliasesPage(d, s)) {
    std::memmove(d, s, n);
    return;
  }
  size_t i = 0;
  for (; i + 64 <= n; i += 64) __builtin_memcpy(d + i, s + i, 64);  // inlined as vector moves
  std::memcpy(d + i, s + i, n - i);
}

// A copy whose destination bypasses the caches (non-temporal stores, then a store fence): for a
// destination another core will read, where moving lines from this core's cache to that one's
// is slower than through memory (cores far apart; shm_store_judge.hpp). dst 16-byte aligned for
// the streamed part; elsewhere (not x86-64) a plain copy.
inline void streamCopy(void* dst, const void* src, size_t n) {
#if defined(__x86_64__)
  auto* d = static_cast<char*>(dst);
  const auto* s = static_cast<const char*>(src);
  size_t i = 0;
  if ((reinterpret_cast<uintptr_t>(d) & 15) == 0) {
    for (; i + 64 <= n; i += 64) {
      const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i + 16));
      const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i + 32));
      const __m128i e = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i + 48));
      _mm_stream_si128(reinterpret_cast<__m128i*>(d + i), a);
      _mm_stream_si128(reinterpret_cast<__m128i*>(d + i + 16), b);
      _mm_stream_si128(reinterpret_cast<__m128i*>(d + i + 32), c);
      _mm_stream_si128(reinterpret_cast<__m128i*>(d + i + 48), e);
    }
    _mm_sfence();  // the streamed lines are visible before whatever publishes them
  }
  copyBytes(d + i, s + i, n - i);
#else
  copyBytes(dst, src, n);
#endif
}

}  // namespace loom::mem

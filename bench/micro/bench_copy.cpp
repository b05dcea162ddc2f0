// mem::copyBytes against memcpy for the destination skews that matter (docs/performance.md,
// "Page-skewed copies"): 0 and 64 bytes (memcpy's fast path), 16 bytes past the source modulo
// 4 KiB (two malloc neighbours: glibc's rep movsb crawls on AMD Zen), at cache and memory sizes.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "mem/copy.hpp"

namespace {

constexpr size_t kSizes[] = {4096, 64 << 10, 1 << 20, 32 << 20};
constexpr size_t kSkews[] = {0, 16, 64};

template <bool kLoom>
void benchCopy(benchmark::State& state, size_t bytes, size_t skew) {
  auto* src = static_cast<char*>(std::aligned_alloc(4096, bytes + 4096));
  auto* dst = static_cast<char*>(std::aligned_alloc(4096, bytes + 4096));
  std::memset(src, 1, bytes + 4096);
  std::memset(dst, 2, bytes + 4096);
  for (auto _ : state) {
    if constexpr (kLoom) loom::mem::copyBytes(dst + skew, src, bytes);
    else std::memcpy(dst + skew, src, bytes);
    benchmark::DoNotOptimize(dst);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(bytes));
  std::free(src);
  std::free(dst);
}

const bool registered = [] {
  for (size_t bytes : kSizes)
    for (size_t skew : kSkews) {
      const std::string tag = std::to_string(bytes >> 10) + "KiB/skew" + std::to_string(skew);
      benchmark::RegisterBenchmark(("memcpy/" + tag).c_str(), benchCopy<false>, bytes, skew);
      benchmark::RegisterBenchmark(("copyBytes/" + tag).c_str(), benchCopy<true>, bytes, skew);
    }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();

// Reduce kernels vs memcpy on the same buffer size. Every type is measured for Sum, float32 for
// all ops, and the selected-ISA table and the generic one both appear. bytes_per_second counts
// the bytes of ONE buffer (count * element size) per call; a reduce moves 3x that (read a, read
// b, write dst), memcpy 2x (read, write), so reduce at ~2/3 of memcpy's figure is at the same
// memory throughput.
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

#include "mem/kernels.hpp"
#include "mem/reduce.hpp"

using namespace loom::mem;

namespace {

constexpr size_t kSizes[] = {4096, 256 << 10, 4 << 20, 64 << 20};

std::string sizeLabel(size_t bytes) {
  if (bytes >= (1u << 20)) return std::to_string(bytes >> 20) + "MiB";
  return std::to_string(bytes >> 10) + "KiB";
}

void fill(loomDataType_t t, std::vector<unsigned char>& buf, double base) {
  const size_t n = buf.size() / typeSize(t);
  for (size_t i = 0; i < n; ++i) storeFromDouble(t, buf.data(), i, base + double(i % 17) * 0.25);
}

void benchReduce(benchmark::State& state, Isa isa, loomDataType_t t, ReduceKind k, size_t bytes) {
  std::vector<unsigned char> a(bytes), b(bytes), d(bytes);
  fill(t, a, 1.0);
  fill(t, b, 0.5);
  const size_t n = bytes / typeSize(t);
  ReduceFn fn = reduceFnFor(isa, t, k);
  for (auto _ : state) {
    fn(d.data(), a.data(), b.data(), n);
    benchmark::DoNotOptimize(d.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(bytes));
}

void benchMemcpy(benchmark::State& state, size_t bytes) {
  std::vector<unsigned char> a(bytes, 1), d(bytes);
  for (auto _ : state) {
    std::memcpy(d.data(), a.data(), bytes);
    benchmark::DoNotOptimize(d.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(bytes));
}

const char* kKindNames[] = {"sum", "prod", "max", "min"};

int registerAll() {
  constexpr loomDataType_t kTypes[] = {loomFloat32, loomBfloat16, loomFloat16, loomFloat8e4m3, loomFloat8e5m2,
                                       loomFloat64, loomInt8, loomUint8, loomInt32, loomUint32, loomInt64,
                                       loomUint64};
  for (size_t bytes : kSizes) {
    const std::string sz = sizeLabel(bytes);
    benchmark::RegisterBenchmark(("memcpy/" + sz).c_str(), benchMemcpy, bytes);
    for (Isa isa : {selectedIsa(), Isa::Generic}) {
      for (loomDataType_t t : kTypes) {
        for (int k = 0; k < 4; ++k) {
          if (k != 0 && t != loomFloat32) continue;
          const std::string name =
              std::string(kKindNames[k]) + "/" + typeName(t) + "/" + isaName(isa) + "/" + sz;
          benchmark::RegisterBenchmark(name.c_str(), benchReduce, isa, t, ReduceKind(k), bytes);
        }
      }
      if (selectedIsa() == Isa::Generic) break;  // one table on this CPU
    }
  }
  return 0;
}

const int kRegistered = registerAll();

}  // namespace

BENCHMARK_MAIN();

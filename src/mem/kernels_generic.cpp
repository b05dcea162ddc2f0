// Baseline x86-64 kernels: plain loops from kernel_loops.hpp, auto-vectorised with SSE2 at -O3.
// Used when the CPU lacks AVX2/F16C, and always for types the AVX2 file does not specialise.
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "mem/float_bits.hpp"
#include "mem/kernels.hpp"

// The layer's CMake target is built at the project's -O2; the kernels want the vectoriser's full
// cost model and loop versioning, so raise this file alone (no -ffast-math: NaN/inf/-0 matter).
#pragma GCC optimize("O3")

namespace loom::mem {
namespace {
#include "mem/kernel_loops.hpp"

KernelTable makeGeneric() {
  KernelTable t{};
  fillScalarTable(t);
  return t;
}
}  // namespace

const KernelTable& genericTable() {
  static const KernelTable table = makeGeneric();
  return table;
}

}  // namespace loom::mem

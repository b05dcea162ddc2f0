// Private: the per-ISA kernel tables behind reduceFn(). Tests use reduceFnFor() to check every
// instruction-set variant on machines that have it, not only the one dispatch picks.
#pragma once

#include "mem/reduce.hpp"

namespace loom::mem {

enum class Isa : uint8_t { Generic, Avx2 };

struct KernelTable {
  ReduceFn fn[loomNumTypes][4];
};

// Baseline x86-64 (SSE2), auto-vectorised at -O3.
const KernelTable& genericTable();
// AVX2 + F16C; only call its kernels when isaSupported(Isa::Avx2).
const KernelTable& avx2Table();

bool isaSupported(Isa isa);
// The ISA reduceFn() dispatches to (the best supported one).
Isa selectedIsa();
const char* isaName(Isa isa);
// The kernel for (type, kind) of a given ISA; null for an invalid type or unsupported ISA.
ReduceFn reduceFnFor(Isa isa, loomDataType_t type, ReduceKind kind);

}  // namespace loom::mem

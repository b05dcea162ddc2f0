// Inputs and references for the multi-process checks: the same values `loom bench -c 1` uses
// (tools/loom/bench_values.hpp), under the names the tests use.
#pragma once

#include "bench_values.hpp"

namespace loomtest {

using loom::bench::values::isFp8;
using loom::bench::values::isInt;
using loom::bench::values::matches;
using loom::bench::values::reduced;

inline int64_t inputValue(loomDataType_t t, loomRedOp_t op, int r, size_t i) {
  return loom::bench::values::input(t, op, r, i);
}
inline void storeValue(loomDataType_t t, void* buf, size_t i, int64_t v) { loom::bench::values::store(t, buf, i, v); }
inline void fillInput(loomDataType_t t, loomRedOp_t op, int r, void* buf, size_t offset, size_t count) {
  loom::bench::values::fill(t, op, r, buf, offset, count);
}

}  // namespace loomtest

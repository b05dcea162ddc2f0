// Host reduction kernels, one per (type, op), vectorised. 16- and 8-bit floats are widened
// to float32, combined, and rounded once per call (round to nearest even).
#pragma once

#include <loom/loom.h>

#include <cstddef>
#include <cstdint>

namespace loom::mem {

// Bytes per element; 0 for an unknown type. Inline: every call asks, several times.
inline size_t typeSize(loomDataType_t type) {
  switch (type) {
    case loomInt8: case loomUint8: case loomFloat8e4m3: case loomFloat8e5m2: return 1;
    case loomFloat16: case loomBfloat16: return 2;
    case loomInt32: case loomUint32: case loomFloat32: return 4;
    case loomInt64: case loomUint64: case loomFloat64: return 8;
    default: return 0;
  }
}
// Short name as nccl-tests prints it ("float", "bfloat16", "f8e4m3", ...); "unknown" if invalid.
const char* typeName(loomDataType_t type);
inline bool isValidType(loomDataType_t type) { return typeSize(type) != 0; }
// 16- and 8-bit floats: reduced by widening to fp32 (slower than fp32 itself).
bool isNarrowFloat(loomDataType_t type);

// The built-in combining ops. Avg and PreMulSum are Sum plus a scaling pass (see scale()).
enum class ReduceKind : uint8_t { Sum, Prod, Max, Min };

// dst[i] = a[i] op b[i] for i < count. dst may alias a or b exactly (never partially).
using ReduceFn = void (*)(void* dst, const void* a, const void* b, size_t count);

// The kernel for (type, kind); never null for a valid type.
ReduceFn reduceFn(loomDataType_t type, ReduceKind kind);

// dst[i] = src[i] * factor (computed in float32 for 8/16-bit floats, float64 for float64,
// and for integers as (integer) round-toward-zero of src[i] * factor in double).
// dst may alias src. Used for loomAvg (factor 1/n after the sum) and PreMulSum.
void scale(loomDataType_t type, void* dst, const void* src, size_t count, double factor);

// Conversions, exposed for tests and tools.
float halfToFloat(uint16_t h);
uint16_t floatToHalf(float f);
float bf16ToFloat(uint16_t b);
uint16_t floatToBf16(float f);
float e4m3ToFloat(uint8_t v);
uint8_t floatToE4m3(float f);  // saturates to +-448 (the fn variant has no infinity)
float e5m2ToFloat(uint8_t v);
uint8_t floatToE5m2(float f);

// Reads element i of a buffer of `type` as double, and writes a double (rounded to the type).
double loadAsDouble(loomDataType_t type, const void* buf, size_t i);
void storeFromDouble(loomDataType_t type, void* buf, size_t i, double v);

}  // namespace loom::mem

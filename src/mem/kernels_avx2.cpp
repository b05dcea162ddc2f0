// AVX2 + F16C kernels. Integer, float32 and float64 rows are the plain loops of kernel_loops.hpp
// auto-vectorised for AVX2; the 8/16-bit float rows are written with intrinsics because the
// compiler cannot vectorise their conversions well: fp16 uses F16C (vcvtph2ps/vcvtps2ph, which
// round to nearest even and handle NaN, inf, subnormals and overflow in hardware); bf16 widens
// by a 16-bit shift and narrows with the integer round-to-nearest-even trick; e5m2 is the top
// byte of an fp16, so it rides on F16C plus one more integer rounding; e4m3 is decoded by
// rebiasing the exponent with a multiply and encoded with the same integer rounding (subnormals
// via a magic-number add). Each block reads both inputs before writing, so dst may
// equal a or b. Tails use float_bits.hpp, which gives bit-identical results.
//
// Only this file is compiled for AVX2 (function-level target pragma), so the library still
// runs on any x86-64; reduceFn() calls into it only after __builtin_cpu_supports says so.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "mem/float_bits.hpp"
#include "mem/kernels.hpp"

#pragma GCC push_options
#pragma GCC target("avx2,f16c")
#pragma GCC optimize("O3")

namespace loom::mem {
namespace {
#include "mem/kernel_loops.hpp"

// ---- vector combining ops on 8 floats; same NaN/zero rules as FloatOps ----
template <K k>
inline __m256 vop(__m256 a, __m256 b) {
  if constexpr (k == K::Sum) {
    return _mm256_add_ps(a, b);
  } else if constexpr (k == K::Prod) {
    return _mm256_mul_ps(a, b);
  } else {
    // maxps/minps return the second operand when either is NaN or both are zero: that is
    // exactly `a > b ? a : b`; then let a NaN in `a` win too.
    __m256 r = k == K::Max ? _mm256_max_ps(a, b) : _mm256_min_ps(a, b);
    return _mm256_blendv_ps(r, a, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
  }
}

inline __m256i set1(uint32_t v) { return _mm256_set1_epi32(static_cast<int>(v)); }

// ---- codecs: a block of kBlock elements <-> two vectors of 8 floats ----
struct HalfVec {
  using Scalar = HalfCodec;
  static constexpr size_t kBlock = 16;
  static void load(const uint16_t* p, __m256& lo, __m256& hi) {
    lo = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    hi = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8)));
  }
  template <bool kArith>
  static void store(uint16_t* p, __m256 lo, __m256 hi) {
    constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(lo, kRound));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p + 8), _mm256_cvtps_ph(hi, kRound));
  }
};

struct Bf16Vec {
  using Scalar = Bf16Codec;
  static constexpr size_t kBlock = 16;
  // unpacklo/hi interleave within 128-bit lanes; packus_epi32 undoes exactly that, and the ops
  // are element-wise, so no cross-lane shuffles are needed.
  static void load(const uint16_t* p, __m256& lo, __m256& hi) {
    __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    __m256i z = _mm256_setzero_si256();
    lo = _mm256_castsi256_ps(_mm256_unpacklo_epi16(z, v));
    hi = _mm256_castsi256_ps(_mm256_unpackhi_epi16(z, v));
  }
  template <bool kArith>
  static __m256i narrow(__m256 f) {
    __m256i u = _mm256_castps_si256(f);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), set1(1));
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, set1(0x7FFF)), lsb), 16);
    if constexpr (kArith) return r;  // see kArith in narrowKernel
    __m256i qnan = _mm256_or_si256(_mm256_srli_epi32(u, 16), set1(0x40));
    return _mm256_blendv_epi8(r, qnan, _mm256_castps_si256(_mm256_cmp_ps(f, f, _CMP_UNORD_Q)));
  }
  template <bool kArith>
  static void store(uint16_t* p, __m256 lo, __m256 hi) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm256_packus_epi32(narrow<kArith>(lo), narrow<kArith>(hi)));
  }
};

struct E5m2Vec {
  using Scalar = E5m2Codec;
  static constexpr size_t kBlock = 16;
  static void load(const uint8_t* p, __m256& lo, __m256& hi) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i z = _mm_setzero_si128();
    lo = _mm256_cvtph_ps(_mm_unpacklo_epi8(z, v));  // byte -> top byte of an fp16
    hi = _mm256_cvtph_ps(_mm_unpackhi_epi8(z, v));
  }
  // float -> fp16 (F16C, RNE) -> e5m2 (RNE on the low byte). Two roundings, but for results of
  // +,* on e5m2 inputs they equal one (11 >= 2*3+2 and 24 >= 2*11+2); the exhaustive pair
  // tests check this bit for bit against the scalar path.
  template <bool kArith>
  static __m128i narrow(__m256 f) {
    __m128i h = _mm256_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m128i lsb = _mm_and_si128(_mm_srli_epi16(h, 8), _mm_set1_epi16(1));
    __m128i r = _mm_srli_epi16(_mm_add_epi16(_mm_add_epi16(h, _mm_set1_epi16(0x7F)), lsb), 8);
    if constexpr (kArith) return r;
    __m128i qnan = _mm_or_si128(_mm_srli_epi16(h, 8), _mm_set1_epi16(0x02));
    __m128i isnan = _mm_cmpgt_epi16(_mm_and_si128(h, _mm_set1_epi16(0x7FFF)), _mm_set1_epi16(0x7C00));
    return _mm_blendv_epi8(r, qnan, isnan);
  }
  template <bool kArith>
  static void store(uint8_t* p, __m256 lo, __m256 hi) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm_packus_epi16(narrow<kArith>(lo), narrow<kArith>(hi)));
  }
};

struct E4m3Vec {
  using Scalar = E4m3Codec;
  static constexpr size_t kBlock = 16;
  static __m256 widen(__m256i w) {
    __m256i em = _mm256_and_si256(w, set1(0x7F));
    __m256 mag = _mm256_mul_ps(_mm256_castsi256_ps(_mm256_slli_epi32(em, 20)), _mm256_set1_ps(0x1p120f));
    __m256i sign = _mm256_slli_epi32(_mm256_and_si256(w, set1(0x80)), 24);
    __m256i u = _mm256_or_si256(_mm256_castps_si256(mag), sign);
    __m256i nan = _mm256_or_si256(sign, set1(0x7FC00000u));
    return _mm256_castsi256_ps(_mm256_blendv_epi8(u, nan, _mm256_cmpeq_epi32(em, set1(0x7F))));
  }
  static void load(const uint8_t* p, __m256& lo, __m256& hi) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    lo = widen(_mm256_cvtepu8_epi32(v));
    hi = widen(_mm256_cvtepu8_epi32(_mm_srli_si128(v, 8)));
  }
  // Clamping |f| to 448 first is exact saturation (everything above rounds or saturates to 448)
  // and keeps NaN (minps returns its second operand for NaN); a NaN then produces a code above
  // 0x7F in the normal formula, which the final unsigned min turns into 0x7F. Subnormals round
  // by adding 2^14 (ulp 2^-9), like the arithmetic before it this follows MXCSR (default RNE).
  static __m256i narrow(__m256 f) {
    __m256i u = _mm256_castps_si256(f);
    __m256i sign = _mm256_srli_epi32(_mm256_and_si256(u, set1(0x80000000u)), 24);
    __m256 c = _mm256_min_ps(_mm256_set1_ps(448.f), _mm256_andnot_ps(_mm256_set1_ps(-0.f), f));
    __m256i ci = _mm256_castps_si256(c);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(ci, 20), set1(1));
    __m256i normal = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(ci, set1(0x7FFFFu - (120u << 23))), lsb), 20);
    __m256i sub = _mm256_sub_epi32(_mm256_castps_si256(_mm256_add_ps(c, _mm256_set1_ps(0x1p14f))), set1(0x46800000u));
    __m256i code = _mm256_blendv_epi8(sub, normal, _mm256_cmpgt_epi32(ci, set1((121u << 23) - 1)));
    return _mm256_or_si256(_mm256_min_epu32(code, set1(0x7F)), sign);
  }
  template <bool kArith>
  static void store(uint8_t* p, __m256 lo, __m256 hi) {
    // packus_epi32 interleaves 128-bit lanes; permute puts lo before hi again.
    __m256i w = _mm256_permute4x64_epi64(_mm256_packus_epi32(narrow(lo), narrow(hi)), 0xD8);
    __m128i b = _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), b);
  }
};

// kArith (Sum, Prod): a NaN result is then a hardware-quieted NaN whose low bits, below the
// narrow format's mantissa, are zero (inputs were widened from that format, and the default NaN
// has none), so plain round-to-nearest-even arithmetic on the bits already leaves it a quiet NaN
// and the NaN fix-up can be skipped. Max/Min pass an input through unchanged, possibly a
// signalling NaN, so they keep the fix-up that quiets it like the scalar path does.
template <class V, K k>
void narrowKernel(void* dst, const void* a, const void* b, size_t n) {
  constexpr bool kArith = k == K::Sum || k == K::Prod;
  using S = typename V::Scalar::S;
  auto* d = static_cast<S*>(dst);
  const auto* pa = static_cast<const S*>(a);
  const auto* pb = static_cast<const S*>(b);
  size_t i = 0;
#pragma GCC unroll 2
  for (; i + V::kBlock <= n; i += V::kBlock) {
    __m256 alo, ahi, blo, bhi;
    V::load(pa + i, alo, ahi);
    V::load(pb + i, blo, bhi);
    V::template store<kArith>(d + i, vop<k>(alo, blo), vop<k>(ahi, bhi));
  }
  for (; i < n; ++i) d[i] = NarrowElem<typename V::Scalar, k>::apply(pa[i], pb[i]);
}

template <class V>
void fillNarrow(ReduceFn* row) {
  row[0] = &narrowKernel<V, K::Sum>;
  row[1] = &narrowKernel<V, K::Prod>;
  row[2] = &narrowKernel<V, K::Max>;
  row[3] = &narrowKernel<V, K::Min>;
}

KernelTable makeAvx2() {
  KernelTable t{};
  fillScalarTable(t);
  fillNarrow<HalfVec>(t.fn[loomFloat16]);
  fillNarrow<Bf16Vec>(t.fn[loomBfloat16]);
  fillNarrow<E4m3Vec>(t.fn[loomFloat8e4m3]);
  fillNarrow<E5m2Vec>(t.fn[loomFloat8e5m2]);
  return t;
}
}  // namespace

const KernelTable& avx2Table() {
  static const KernelTable table = makeAvx2();
  return table;
}

}  // namespace loom::mem

#pragma GCC pop_options

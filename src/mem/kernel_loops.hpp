// Private: scalar element ops and the loops around them, written so GCC -O3 auto-vectorises
// them for whatever ISA the including file targets. Included by kernels_generic.cpp and
// kernels_avx2.cpp INSIDE an anonymous namespace, after all system headers, so each file gets
// its own internal copy compiled for its own ISA (no ODR clash between the two).
//
// Semantics (see docs/numerics.md):
//  - integers: Sum and Prod wrap modulo 2^bits (done in unsigned arithmetic); Max/Min signed or
//    unsigned as the type says;
//  - floats: Max(a,b) = a if a is NaN, else (a > b ? a : b) (so a NaN in b also propagates, and
//    Max(+0,-0) = -0, Max(-0,+0) = +0: exactly x86 maxps after a NaN fix-up); Min likewise.
//  - 8/16-bit floats: widen to float32 (exact), combine, round once to nearest even.

template <class T>
struct Unsigned;
template <> struct Unsigned<int8_t> { using type = uint8_t; };
template <> struct Unsigned<uint8_t> { using type = uint8_t; };
template <> struct Unsigned<int32_t> { using type = uint32_t; };
template <> struct Unsigned<uint32_t> { using type = uint32_t; };
template <> struct Unsigned<int64_t> { using type = uint64_t; };
template <> struct Unsigned<uint64_t> { using type = uint64_t; };

template <class T>
struct IntOps {
  using U = typename Unsigned<T>::type;
  static T sum(T a, T b) { return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b))); }
  // Promote uint8 to unsigned (not int) before multiplying so nothing can overflow signed.
  static T prod(T a, T b) {
    using W = std::conditional_t<(sizeof(U) < sizeof(unsigned)), unsigned, U>;
    return static_cast<T>(static_cast<U>(static_cast<W>(static_cast<U>(a)) * static_cast<W>(static_cast<U>(b))));
  }
  static T max(T a, T b) { return a > b ? a : b; }
  static T min(T a, T b) { return a < b ? a : b; }
};

template <class F>
struct FloatOps {
  static F sum(F a, F b) { return a + b; }
  static F prod(F a, F b) { return a * b; }
  static F max(F a, F b) {
    F r = a > b ? a : b;
    return a != a ? a : r;
  }
  static F min(F a, F b) {
    F r = a < b ? a : b;
    return a != a ? a : r;
  }
};

// Narrow float codecs: storage type S, widened to float.
struct HalfCodec {
  using S = uint16_t;
  static float dec(S v) { return loom::mem::bits::halfToFloat(v); }
  static S enc(float f) { return loom::mem::bits::floatToHalf(f); }
};
struct Bf16Codec {
  using S = uint16_t;
  static float dec(S v) { return loom::mem::bits::bf16ToFloat(v); }
  static S enc(float f) { return loom::mem::bits::floatToBf16(f); }
};
struct E4m3Codec {
  using S = uint8_t;
  static float dec(S v) { return loom::mem::bits::e4m3ToFloat(v); }
  static S enc(float f) { return loom::mem::bits::floatToE4m3(f); }
};
struct E5m2Codec {
  using S = uint8_t;
  static float dec(S v) { return loom::mem::bits::e5m2ToFloat(v); }
  static S enc(float f) { return loom::mem::bits::floatToE5m2(f); }
};

enum class K { Sum, Prod, Max, Min };

template <K k, class Ops, class T>
inline T applyOp(T a, T b) {
  if constexpr (k == K::Sum) return Ops::sum(a, b);
  else if constexpr (k == K::Prod) return Ops::prod(a, b);
  else if constexpr (k == K::Max) return Ops::max(a, b);
  else return Ops::min(a, b);
}

// Element function objects: Elem::apply(S a, S b) -> S.
template <class T, K k>
struct IntElem {
  using S = T;
  static T apply(T a, T b) { return applyOp<k, IntOps<T>>(a, b); }
};
template <class T, K k>
struct FloatElem {
  using S = T;
  static T apply(T a, T b) { return applyOp<k, FloatOps<T>>(a, b); }
};
template <class Codec, K k>
struct NarrowElem {
  using S = typename Codec::S;
  static S apply(S a, S b) { return Codec::enc(applyOp<k, FloatOps<float>>(Codec::dec(a), Codec::dec(b))); }
};

// Separate loops per aliasing pattern so each can promise __restrict and vectorise without
// runtime overlap checks (dst may equal a or b exactly, never overlap partially).
template <class E>
void loop3(typename E::S* __restrict d, const typename E::S* __restrict a, const typename E::S* __restrict b,
           size_t n) {
  for (size_t i = 0; i < n; ++i) d[i] = E::apply(a[i], b[i]);
}
template <class E>
void loopIntoA(typename E::S* __restrict d, const typename E::S* __restrict b, size_t n) {
  for (size_t i = 0; i < n; ++i) d[i] = E::apply(d[i], b[i]);
}
template <class E>
void loopIntoB(typename E::S* __restrict d, const typename E::S* __restrict a, size_t n) {
  for (size_t i = 0; i < n; ++i) d[i] = E::apply(a[i], d[i]);
}
template <class E>
void loopSelf(typename E::S* d, size_t n) {
  for (size_t i = 0; i < n; ++i) d[i] = E::apply(d[i], d[i]);
}

template <class E>
void scalarKernel(void* dst, const void* a, const void* b, size_t n) {
  using S = typename E::S;
  auto* d = static_cast<S*>(dst);
  const auto* pa = static_cast<const S*>(a);
  const auto* pb = static_cast<const S*>(b);
  if (d == pa && d == pb) loopSelf<E>(d, n);
  else if (d == pa) loopIntoA<E>(d, pb, n);
  else if (d == pb) loopIntoB<E>(d, pa, n);
  else loop3<E>(d, pa, pb, n);  // pa == pb is fine: both are only read
}

template <template <class, K> class Elem, class T>
void fillRow(ReduceFn* row) {
  row[0] = &scalarKernel<Elem<T, K::Sum>>;
  row[1] = &scalarKernel<Elem<T, K::Prod>>;
  row[2] = &scalarKernel<Elem<T, K::Max>>;
  row[3] = &scalarKernel<Elem<T, K::Min>>;
}

// Fills every row with the scalar (auto-vectorised) kernels.
inline void fillScalarTable(KernelTable& t) {
  fillRow<IntElem, int8_t>(t.fn[loomInt8]);
  fillRow<IntElem, uint8_t>(t.fn[loomUint8]);
  fillRow<IntElem, int32_t>(t.fn[loomInt32]);
  fillRow<IntElem, uint32_t>(t.fn[loomUint32]);
  fillRow<IntElem, int64_t>(t.fn[loomInt64]);
  fillRow<IntElem, uint64_t>(t.fn[loomUint64]);
  fillRow<FloatElem, float>(t.fn[loomFloat32]);
  fillRow<FloatElem, double>(t.fn[loomFloat64]);
  fillRow<NarrowElem, HalfCodec>(t.fn[loomFloat16]);
  fillRow<NarrowElem, Bf16Codec>(t.fn[loomBfloat16]);
  fillRow<NarrowElem, E4m3Codec>(t.fn[loomFloat8e4m3]);
  fillRow<NarrowElem, E5m2Codec>(t.fn[loomFloat8e5m2]);
}

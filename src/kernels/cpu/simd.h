// A thin SIMD vocabulary for writing a kernel once and compiling it for every ISA.
//
// A kernel is a template over a vector type V (one of Scalar, Avx2, Avx512 below):
//
//   template <class V> void scale_impl(float* x, int64_t n, float s) {
//     const typename V::reg vs = V::set1(s);
//     int64_t i = 0;
//     for (; i + V::W <= n; i += V::W) V::store(x + i, V::mul(V::load(x + i), vs));
//     if (i < n) V::store_tail(x + i, V::mul(V::load_tail(x + i, n - i), vs), n - i);
//   }
//
// and is instantiated in `foo_scalar.cpp`, `foo_avx2.cpp` and `foo_avx512.cpp` (compiled with
// matching -m flags by cmake/isa.cmake). Each of those files defines CS_ISA_NAMESPACE (scalar,
// avx2, avx512) before including this header and its kernel templates, and everything here lives
// in cornerstone::kernels::CS_ISA_NAMESPACE: no inline function is then shared between TUs built
// for different ISAs (an ODR trap that would let the linker run AVX-512 code on an AVX2 machine).
#pragma once

#ifndef CS_ISA_NAMESPACE
#error "define CS_ISA_NAMESPACE (scalar, avx2 or avx512) before including kernels/cpu/simd.h"
#endif

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__AVX2__) || defined(__AVX512F__)
// GCC 12 reports a false "(may be) used uninitialized" inside _mm512_reduce_add_ps (its
// _mm512_undefined_pd placeholder) wherever it is inlined; the warning is located in this header.
// The warning is reported where the intrinsic is inlined, so it stays off for the whole TU.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#endif

namespace cornerstone::kernels::CS_ISA_NAMESPACE {

// ---- Scalar: width 1, portable -----------------------------------------------------------------
struct Scalar {
  using reg = float;
  static constexpr int W = 1;
  static reg load(const float* p) { return *p; }
  static reg load_tail(const float* p, int64_t) { return *p; }
  static void store(float* p, reg v) { *p = v; }
  static void store_tail(float* p, reg v, int64_t) { *p = v; }
  static reg set1(float x) { return x; }
  static reg zero() { return 0.0f; }
  static reg add(reg a, reg b) { return a + b; }
  static reg sub(reg a, reg b) { return a - b; }
  static reg mul(reg a, reg b) { return a * b; }
  static reg div(reg a, reg b) { return a / b; }
  // a * b + c with one rounding, as the vector FMAs: the scalar path gives the same bits (AdamW
  // matches PyTorch bitwise). On the portable baseline this is a libm call; hot kernels whose
  // scalar path must be fast (attention) use a plain multiply-add instead.
  static reg fma(reg a, reg b, reg c) { return std::fma(a, b, c); }
  static reg max(reg a, reg b) { return a > b ? a : b; }
  static reg min(reg a, reg b) { return a < b ? a : b; }
  static reg sqrt(reg a) { return std::sqrt(a); }
  static reg neg(reg a) { return -a; }
  static float reduce_add(reg a) { return a; }
  static float reduce_max(reg a) { return a; }
  static reg exp(reg x) { return std::exp(x); }
  // Added for the norm / activation / dropout kernels:
  static reg abs(reg a) { return std::fabs(a); }
  static reg select_lt(reg a, reg b, reg t, reg f) { return a < b ? t : f; }  // lane-wise a < b ? t : f
  static reg keep_lanes(reg x, uint32_t bits) { return (bits & 1u) ? x : 0.0f; }  // lane j kept iff bit j set
  static reg erf(reg x) { return std::erf(x); }
  static reg erfc(reg x) { return std::erfc(x); }
  // a, unchanged, but opaque to the optimiser: the operation that produced it is rounded on its own
  // and never contracted with a later add into an FMA (GCC contracts by default). For kernels that
  // must repeat a reference's fp32 roundings step by step (AdamW vs PyTorch).
  static reg no_contract(reg a) {
    __asm__("" : "+x"(a));
    return a;
  }
};

// ---- Shared polynomial exp: exp(x) = 2^n * p(r), x = n ln2 + r, |r| <= ln2/2 --------------------
// Max relative error ~2 ulp over the clamped range; inputs below -87.3 give (near) zero, above 88.7 inf-safe.
#define CS_SIMD_EXP_BODY(V, x)                                                                   \
  const reg hi = set1(88.3762626647949f), lo = set1(-87.3365478515625f);                       \
  x = max(min(x, hi), lo);                                                                       \
  const reg fx = round(mul(x, set1(1.44269504088896341f)));                                      \
  reg r = fma(fx, set1(-0.693359375f), x);                                                       \
  r = fma(fx, set1(2.12194440e-4f), r);                                                          \
  reg p = set1(1.9875691500e-4f);                                                                \
  p = fma(p, r, set1(1.3981999507e-3f));                                                         \
  p = fma(p, r, set1(8.3334519073e-3f));                                                         \
  p = fma(p, r, set1(4.1665795894e-2f));                                                         \
  p = fma(p, r, set1(1.6666665459e-1f));                                                         \
  p = fma(p, r, set1(5.0000001201e-1f));                                                         \
  p = fma(p, mul(r, r), add(r, set1(1.0f)));                                                     \
  return mul(p, pow2n(fx));

// ---- Shared erf / erfc, built from a vector type's primitives ----------------------------------
// Two branches on a = |x|, both evaluated in every lane, then selected:
//   a <  0.5:  erf(a)  = a P(a^2)                                 P of degree 4
//   a >= 0.5:  erfc(a) = t exp(Q(t) - a^2),  t = 1 / (1 + a / 2)  Q of degree 9, a capped at 10
// The coefficients were fitted for this file (iteratively reweighted least squares on Chebyshev
// nodes against double-precision erf/erfc); the fit error is < 2e-9, so fp32 rounding dominates:
// erf is within 2e-7 absolute and 4e-7 relative everywhere, and erfc keeps its relative accuracy
// in the tail (to ~3e-7 times its condition number 2x^2), which 1 - erf could not: GELU's normal
// CDF at very negative x is 0.5 erfc(-x / sqrt 2).
template <class V>
typename V::reg erf_small(typename V::reg a) {  // a P(a^2), for a < 0.5
  const typename V::reg s = V::mul(a, a);
  typename V::reg p = V::set1(4.71815886e-3f);
  p = V::fma(p, s, V::set1(-2.67572794e-2f));
  p = V::fma(p, s, V::set1(1.12828247e-1f));
  p = V::fma(p, s, V::set1(-3.76126081e-1f));
  p = V::fma(p, s, V::set1(1.12837911e+0f));
  return V::mul(a, p);
}
template <class V>
typename V::reg erfc_large(typename V::reg a) {  // for a >= 0.5
  a = V::min(V::set1(10.0f), a);  // constant first: x86 min returns the second operand for NaN
  const typename V::reg t = V::div(V::set1(1.0f), V::fma(a, V::set1(0.5f), V::set1(1.0f)));
  typename V::reg q = V::set1(2.56661743e-1f);
  q = V::fma(q, t, V::set1(-1.20638978e+0f));
  q = V::fma(q, t, V::set1(2.22403622e+0f));
  q = V::fma(q, t, V::set1(-1.92083955e+0f));
  q = V::fma(q, t, V::set1(7.91859090e-1f));
  q = V::fma(q, t, V::set1(-3.97298664e-1f));
  q = V::fma(q, t, V::set1(1.51125118e-1f));
  q = V::fma(q, t, V::set1(3.65682751e-1f));
  q = V::fma(q, t, V::set1(1.00073278e+0f));
  q = V::fma(q, t, V::set1(-1.26553726e+0f));
  return V::mul(t, V::exp(V::sub(q, V::mul(a, a))));
}
template <class V>
typename V::reg erf_from_parts(typename V::reg x) {
  const typename V::reg a = V::abs(x), half = V::set1(0.5f), one = V::set1(1.0f);
  const typename V::reg r = V::select_lt(a, half, erf_small<V>(a), V::sub(one, erfc_large<V>(a)));
  return V::select_lt(x, V::zero(), V::neg(r), r);  // erf is odd
}
template <class V>
typename V::reg erfc_from_parts(typename V::reg x) {
  const typename V::reg a = V::abs(x), half = V::set1(0.5f), one = V::set1(1.0f);
  const typename V::reg c = V::select_lt(a, half, V::sub(one, erf_small<V>(a)), erfc_large<V>(a));
  return V::select_lt(x, V::zero(), V::sub(V::set1(2.0f), c), c);  // erfc(-a) = 2 - erfc(a)
}

#if defined(__AVX2__)
// ---- AVX2 + FMA: 8 floats -----------------------------------------------------------------------
struct Avx2 {
  using reg = __m256;
  static constexpr int W = 8;
  static __m256i tail_mask(int64_t n) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), idx);
  }
  static reg load(const float* p) { return _mm256_loadu_ps(p); }
  static reg load_tail(const float* p, int64_t n) { return _mm256_maskload_ps(p, tail_mask(n)); }
  static void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
  static void store_tail(float* p, reg v, int64_t n) { _mm256_maskstore_ps(p, tail_mask(n), v); }
  static reg set1(float x) { return _mm256_set1_ps(x); }
  static reg zero() { return _mm256_setzero_ps(); }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  static reg div(reg a, reg b) { return _mm256_div_ps(a, b); }
  static reg fma(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
  static reg min(reg a, reg b) { return _mm256_min_ps(a, b); }
  static reg sqrt(reg a) { return _mm256_sqrt_ps(a); }
  static reg neg(reg a) { return _mm256_xor_ps(a, _mm256_set1_ps(-0.0f)); }
  static reg round(reg a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static reg pow2n(reg n) {  // 2^n for integral n in [-127, 128]
    const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
  }
  static float reduce_add(reg a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float reduce_max(reg a) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static reg exp(reg x) { CS_SIMD_EXP_BODY(Avx2, x) }
  static reg abs(reg a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static reg select_lt(reg a, reg b, reg t, reg f) { return _mm256_blendv_ps(f, t, _mm256_cmp_ps(a, b, _CMP_LT_OQ)); }
  static reg keep_lanes(reg x, uint32_t bits) {
    const __m256i lane_bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256i set = _mm256_and_si256(_mm256_set1_epi32(static_cast<int>(bits)), lane_bit);
    return _mm256_and_ps(x, _mm256_castsi256_ps(_mm256_cmpeq_epi32(set, lane_bit)));
  }
  static reg erf(reg x) { return erf_from_parts<Avx2>(x); }
  static reg erfc(reg x) { return erfc_from_parts<Avx2>(x); }
  static reg no_contract(reg a) {
    __asm__("" : "+x"(a));
    return a;
  }
};
#endif

#if defined(__AVX512F__)
// ---- AVX-512: 16 floats -------------------------------------------------------------------------
struct Avx512 {
  using reg = __m512;
  static constexpr int W = 16;
  static __mmask16 tail_mask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static reg load_tail(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(tail_mask(n), p); }
  static void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
  static void store_tail(float* p, reg v, int64_t n) { _mm512_mask_storeu_ps(p, tail_mask(n), v); }
  static reg set1(float x) { return _mm512_set1_ps(x); }
  static reg zero() { return _mm512_setzero_ps(); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  static reg div(reg a, reg b) { return _mm512_div_ps(a, b); }
  static reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
  static reg min(reg a, reg b) { return _mm512_min_ps(a, b); }
  static reg sqrt(reg a) { return _mm512_sqrt_ps(a); }
  static reg neg(reg a) {
    return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_set1_epi32(static_cast<int>(0x80000000u))));
  }
  static reg round(reg a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static reg pow2n(reg n) {
    const __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
  }
  static float reduce_add(reg a) { return _mm512_reduce_add_ps(a); }
  static float reduce_max(reg a) { return _mm512_reduce_max_ps(a); }
  static reg exp(reg x) { CS_SIMD_EXP_BODY(Avx512, x) }
  static reg abs(reg a) { return _mm512_abs_ps(a); }
  static reg select_lt(reg a, reg b, reg t, reg f) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), f, t);
  }
  static reg keep_lanes(reg x, uint32_t bits) { return _mm512_maskz_mov_ps(static_cast<__mmask16>(bits), x); }
  static reg erf(reg x) { return erf_from_parts<Avx512>(x); }
  static reg erfc(reg x) { return erfc_from_parts<Avx512>(x); }
  static reg no_contract(reg a) {
    __asm__("" : "+v"(a));
    return a;
  }
};
#endif

}  // namespace cornerstone::kernels::CS_ISA_NAMESPACE

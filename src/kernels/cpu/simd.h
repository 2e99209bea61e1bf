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
  static reg fma(reg a, reg b, reg c) { return std::fma(a, b, c); }  // a * b + c
  static reg max(reg a, reg b) { return a > b ? a : b; }
  static reg min(reg a, reg b) { return a < b ? a : b; }
  static reg sqrt(reg a) { return std::sqrt(a); }
  static reg neg(reg a) { return -a; }
  static float reduce_add(reg a) { return a; }
  static float reduce_max(reg a) { return a; }
  static reg exp(reg x) { return std::exp(x); }
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
};
#endif

}  // namespace cornerstone::kernels::CS_ISA_NAMESPACE

// What a register tile of the packed matmul sees (kernels/cpu/packed_matmul.inc): the prepared
// activations, the packed panels and the output. Shared by the per-format tile files.
#pragma once

#ifndef CS_ISA_NAMESPACE
#error "define CS_ISA_NAMESPACE before including kernels/cpu/packed_tiles.h"
#endif

#include <cstdint>
#include <cstring>
#include <utility>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace cornerstone::kernels::CS_ISA_NAMESPACE::packed_tiles {

// Activations are prepared in row groups, each interleaved so that a tile of R rows reads one
// contiguous stream: group element (k, i) sits at a[k * R + i], where the unit is a float (f32), a
// pair of bf16 (bf16: k counts pairs) or 4 int8 (q8_0 / q4_0: k counts groups of 4), and the int8
// block scales and corrections at da[b * R + i], ca[b * R + i]. A group starting at row r0 starts
// r0 rows' worth of elements into each buffer.
struct TileArgs {
  const void* a = nullptr;  // activations: the first group
  int64_t row_units = 0;    // units (floats, pairs, 4-byte groups) per row
  const float* da = nullptr;
  const int32_t* ca = nullptr;
  int64_t kb = 0;  // quant blocks per row
  const char* w = nullptr;  // panel 0
  int64_t panel_bytes = 0;
  int64_t k = 0;  // weights per row (K)
  float* y = nullptr;
  int64_t ldy = 0;
  const float* bias = nullptr;
  int64_t n = 0;  // valid output columns (the last panel may be partial)
};

// Writes 16 accumulated outputs of row `row`, panel `p` (+ bias), dropping columns >= n.
// The activations of the group that starts at row r0 (every unit is 4 bytes).
template <class T>
inline const T* group_of(const TileArgs& t, int64_t r0) {
  return reinterpret_cast<const T*>(static_cast<const char*>(t.a) + r0 * t.row_units * 4);
}

inline void store_panel(const TileArgs& t, int64_t row, int64_t p, const float* v16) {
  const int64_t c0 = p * 16, valid = t.n - c0 < 16 ? t.n - c0 : 16;
  float* dst = t.y + row * t.ldy + c0;
  if (t.bias) {
    for (int64_t c = 0; c < valid; ++c) dst[c] = v16[c] + t.bias[c0 + c];
  } else {
    std::memcpy(dst, v16, static_cast<size_t>(valid) * sizeof(float));
  }
}

// The same from registers: whole panels are written straight from them (going through a stack
// buffer for every panel would make GCC keep some accumulators in memory inside the hot loop).
#if defined(__AVX512F__)
inline void store_panel(const TileArgs& t, int64_t row, int64_t p, __m512 acc) {
  const int64_t c0 = p * 16;
  float* dst = t.y + row * t.ldy + c0;
  if (c0 + 16 <= t.n) {
    _mm512_storeu_ps(dst, t.bias ? _mm512_add_ps(acc, _mm512_loadu_ps(t.bias + c0)) : acc);
  } else {
    const __mmask16 m = static_cast<__mmask16>((1u << (t.n - c0)) - 1u);
    _mm512_mask_storeu_ps(dst, m, t.bias ? _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, t.bias + c0)) : acc);
  }
}
#endif
#if defined(__AVX2__)
inline void store_panel(const TileArgs& t, int64_t row, int64_t p, __m256 lo, __m256 hi) {
  const int64_t c0 = p * 16;
  float* dst = t.y + row * t.ldy + c0;
  if (c0 + 16 <= t.n) {
    if (t.bias) lo = _mm256_add_ps(lo, _mm256_loadu_ps(t.bias + c0)), hi = _mm256_add_ps(hi, _mm256_loadu_ps(t.bias + c0 + 8));
    _mm256_storeu_ps(dst, lo);
    _mm256_storeu_ps(dst + 8, hi);
  } else {
    alignas(32) float out[16];
    _mm256_store_ps(out, lo);
    _mm256_store_ps(out + 8, hi);
    store_panel(t, row, p, out);
  }
}
#endif

// Compile-time loop: f(std::integral_constant<int, 0>) ... f(<N-1>), fully unrolled, so that arrays
// of vector registers indexed by the loop variable stay in registers.
template <int N, class F, int... I>
inline void unroll_impl(F&& f, std::integer_sequence<int, I...>) {
  (f(std::integral_constant<int, I>{}), ...);
}
template <int N, class F>
inline void unroll(F&& f) {
  unroll_impl<N>(f, std::make_integer_sequence<int, N>{});
}

}  // namespace cornerstone::kernels::CS_ISA_NAMESPACE::packed_tiles

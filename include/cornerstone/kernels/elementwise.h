// Elementwise arithmetic on contiguous float arrays, and dtype conversion.
#pragma once

#include <cstdint>

#include "cornerstone/core/dtype.h"
#include "cornerstone/core/tensor.h"

namespace cornerstone::kernels {

void add(const float* a, const float* b, int64_t n, float* y);          // y = a + b
void mul(const float* a, const float* b, int64_t n, float* y);          // y = a * b
void axpy(float alpha, const float* x, int64_t n, float* y);            // y += alpha * x
void scale(float* x, int64_t n, float s);                               // x *= s
void fill(float* x, int64_t n, float value);
void add_rows(const float* bias, int64_t N, int64_t C, float* y);        // y[i, :] += bias
void sum_rows(const float* dy, int64_t N, int64_t C, float* db);         // db += sum_i dy[i, :]

// f32 <-> bf16 (round to nearest even; vcvtne2ps2bf16 on AVX512-BF16).
void f32_to_bf16(const float* x, int64_t n, bf16* y);
void bf16_to_f32(const bf16* x, int64_t n, float* y);

// `t` as a new contiguous tensor of `dtype`: the vectorised conversions above for f32 <-> bf16 (the
// mixed-precision hot paths: gradients, GEMM operands), Tensor::to otherwise. Returns `t` itself
// when it is already contiguous and of `dtype`.
Tensor to_dtype(const Tensor& t, DType dtype);

}  // namespace cornerstone::kernels

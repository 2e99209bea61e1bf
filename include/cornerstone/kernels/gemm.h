// Dense matrix multiply through oneDNN (chosen over OpenBLAS by bench/gemm: see docs/performance.md).
// Row-major throughout; op(X) is X or its transpose.
//
//   C (M, N) = alpha * op(A) (M, K) @ op(B) (K, N) + beta * C
//
// With beta == 0, C is overwritten (it may hold garbage); with beta == 1, the product is added:
// that is how backward passes accumulate weight gradients across micro-batches in place.
#pragma once

#include <cstdint>

#include "cornerstone/core/dtype.h"

namespace cornerstone::kernels {

enum class Trans : char { N = 'N', T = 'T' };

void sgemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// Whether sgemm splits this product into bands of rows, one per thread, each a one-thread oneDNN
// GEMM, rather than leave the partition to oneDNN (tall products with a narrow output and a long
// inner dimension, where oneDNN's own 2-thread partition is slow; kernels/gemm.cpp). CORNERSTONE_SGEMM_SPLIT=0 / 1
// forces it off / on where it applies (M >= 256 per thread), for benchmarks.
bool sgemm_banded(int64_t M, int64_t N, int64_t K, int threads);

// bf16 inputs, fp32 accumulation and output (AVX512-BF16 dot products inside oneDNN).
void gemm_bf16(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const bf16* A, int64_t lda,
               const bf16* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace cornerstone::kernels

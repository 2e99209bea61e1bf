// GGUF's block-quantized weight formats (bit-compatible with ggml), the storage of int8 / int4
// inference weights:
//
//   q8_0: blocks of 32 weights = fp16 scale d + 32 int8 q;         w = d * q          (34 bytes)
//   q4_0: blocks of 32 weights = fp16 scale d + 16 bytes of nibbles; w = d * (q - 8)   (18 bytes)
//         byte j holds weight j in its low nibble and weight j + 16 in its high nibble.
//
// Blocks run along a row (the input dimension of a weight matrix), so a row's length must be a
// multiple of 32. Tensors of DType::Q8_0 / Q4_0 hold these blocks contiguously.
#pragma once

#include <cstdint>

#include "cornerstone/core/dtype.h"

namespace cornerstone::kernels {

inline constexpr int64_t kQuantBlock = 32;

struct BlockQ8_0 {
  f16 d;
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8_0) == 34, "q8_0 block layout");

struct BlockQ4_0 {
  f16 d;
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ4_0) == 18, "q4_0 block layout");

// n must be a multiple of 32. Quantisation rounds as ggml's reference quantizer does, so files
// written here match llama.cpp's byte for byte on the same input.
void quantize_row_q8_0(const float* x, int64_t n, BlockQ8_0* y);
void dequantize_row_q8_0(const BlockQ8_0* x, int64_t n, float* y);
void quantize_row_q4_0(const float* x, int64_t n, BlockQ4_0* y);
void dequantize_row_q4_0(const BlockQ4_0* x, int64_t n, float* y);

}  // namespace cornerstone::kernels

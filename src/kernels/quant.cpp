// ggml's reference quantizers for q8_0 and q4_0, written out from the format's definition so that
// the bytes match llama.cpp's (and gguf-py's) on the same input:
//
//   q8_0: d = max|x| / 127,  q = roundf(x * (1 / d))              (round half away from zero)
//   q4_0: m = the x with the largest |x| (first one on ties, sign kept),  d = m / -8,
//         q = min(15, trunc(x * (1 / d) + 8.5))                    (so m itself maps to 0)
//
// The scale is computed and applied in f32 and only stored as f16: that is what ggml does, and it
// is why dequantize -> quantize reproduces a block exactly (see docs/interop.md).
#include "cornerstone/kernels/quant.h"

#include <algorithm>
#include <cmath>

namespace cornerstone::kernels {

void quantize_row_q8_0(const float* x, int64_t n, BlockQ8_0* y) {
  for (int64_t b = 0; b < n / kQuantBlock; ++b, x += kQuantBlock) {
    float amax = 0.0f;
    for (int j = 0; j < kQuantBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = f32_to_f16(d);
    for (int j = 0; j < kQuantBlock; ++j) y[b].qs[j] = static_cast<int8_t>(std::roundf(x[j] * id));
  }
}

void dequantize_row_q8_0(const BlockQ8_0* x, int64_t n, float* y) {
  for (int64_t b = 0; b < n / kQuantBlock; ++b, y += kQuantBlock) {
    const float d = f16_to_f32(x[b].d);
    for (int j = 0; j < kQuantBlock; ++j) y[j] = static_cast<float>(x[b].qs[j]) * d;
  }
}

void quantize_row_q4_0(const float* x, int64_t n, BlockQ4_0* y) {
  constexpr int kHalf = kQuantBlock / 2;
  for (int64_t b = 0; b < n / kQuantBlock; ++b, x += kQuantBlock) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQuantBlock; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = f32_to_f16(d);
    for (int j = 0; j < kHalf; ++j) {
      const float x0 = x[j] * id, x1 = x[j + kHalf] * id;
      const int q0 = std::min(15, static_cast<int>(x0 + 8.5f));
      const int q1 = std::min(15, static_cast<int>(x1 + 8.5f));
      y[b].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void dequantize_row_q4_0(const BlockQ4_0* x, int64_t n, float* y) {
  constexpr int kHalf = kQuantBlock / 2;
  for (int64_t b = 0; b < n / kQuantBlock; ++b, y += kQuantBlock) {
    const float d = f16_to_f32(x[b].d);
    for (int j = 0; j < kHalf; ++j) {
      y[j] = static_cast<float>((x[b].qs[j] & 0x0F) - 8) * d;
      y[j + kHalf] = static_cast<float>((x[b].qs[j] >> 4) - 8) * d;
    }
  }
}

}  // namespace cornerstone::kernels

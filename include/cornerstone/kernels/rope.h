// Rotary position embeddings in the Hugging Face (GPT-NeoX / Llama "rotate_half") convention: the
// first and second halves of each head's D values form the (x1, x2) pairs:
//
//   y[:D/2] = x1 * cos - x2 * sin,   y[D/2:] = x2 * cos + x1 * sin,
//   with angle(pos, i) = pos * theta^(-2i / D),  i in [0, D/2).
//
// Operates in place on a strided (B, T, H, D) view (kernels/attention.h), for tokens at positions
// start_pos .. start_pos + T - 1. The backward pass is the inverse rotation (sin -> -sin).
//
// Partial rotary embeddings (GPT-NeoX / Phi `rotary_pct` < 1) use a table for rotary_dim < D: the
// first rotary_dim values of each head are rotated (halves of rotary_dim / 2), the rest pass through.
//
//   RopeTable t{max_pos, D / 2, cos.data(), sin.data()};
//   rope_fill_table(10000.0f, D, max_pos, cos.data(), sin.data());
//   rope_apply(t, q, B, T, Hq, D, /*start_pos=*/cache_len, /*inverse=*/false);   // forward
//   rope_apply(t, dq, B, T, Hq, D, cache_len, /*inverse=*/true);                 // backward
#pragma once

#include <cstdint>

#include "cornerstone/kernels/attention.h"

namespace cornerstone::kernels {

// Precomputed (max_pos, rotary_dim / 2) cos and sin tables (rope_fill_table), not owned.
struct RopeTable {
  int64_t max_pos = 0;
  int64_t half_dim = 0;
  const float* cos = nullptr;  // (max_pos, D/2)
  const float* sin = nullptr;  // (max_pos, D/2)
};

// Fills cos/sin (max_pos, head_dim / 2) the way Hugging Face does in float32:
// inv_freq[i] = 1 / theta^(2i / D) (float32), angle = float32(pos) * inv_freq[i] (a float32
// product, exactly as HF), then cos/sin rounded once from double. Agrees with PyTorch's table to
// 1 ulp (PyTorch's float pow/cos/sin are themselves within 1 ulp of the correctly rounded values).
// head_dim here is the rotary dimension (even).
void rope_fill_table(float theta, int64_t head_dim, int64_t max_pos, float* cos, float* sin);

// x (B, T, H, D) rotated in place; inverse = true applies the transpose rotation (the backward pass).
// Bit-identical to HF's float32 `x * cos + rotate_half(x) * sin` (products rounded before the sum).
// Throws ShapeError if start_pos + seq_len > table.max_pos or 2 * table.half_dim > head_dim.
void rope_apply(const RopeTable& table, HeadsView<float> x, int64_t batch, int64_t seq_len, int64_t n_heads,
                int64_t head_dim, int64_t start_pos, bool inverse);

}  // namespace cornerstone::kernels

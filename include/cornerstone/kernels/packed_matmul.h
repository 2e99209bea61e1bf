// Inference matmul against a weight matrix packed once for the CPU:
//
//   y (M, N) = x (M, K) @ W^T + bias        W (N, K): a linear layer's weight, PyTorch's (out, in)
//
// with W held as f32, bf16, q8_0 or q4_0 (the GGUF blocks of kernels/quant.h: 32 weights along a
// row with one fp16 scale). The same kernel serves decoding (M = 1..8 rows: one pass over the
// weights, bandwidth-bound) and prompts (M in the hundreds: register-tiled, compute-bound).
//
// Packing. W's rows are grouped into panels of 16 output features (the last panel padded with
// zero rows) and each panel is stored k-major, so one 64-byte vector holds the next weights of 16
// outputs and every kernel streams a panel front to back:
//
//   f32   panel = K x [16 floats]                                      64 bytes per k
//   bf16  panel = ceil(K/2) x [16 x (w[k], w[k+1])]                    64 bytes per k pair
//   q8_0  panel = K/32 x [16 fp16 scales], then K/32 blocks x 8 x [16 x 4 (int8 q + 128)]
//   q4_0  panel = K/32 x [16 fp16 scales], then K/32 blocks x 4 x [16 x 4 bytes]
//         (q4_0 byte (j, c, i) holds q[c][4j+i] in its low and q[c][16+4j+i] in its high nibble)
//
// (the scales padded to a multiple of 64 bytes), so the quantized formats take the bytes of their
// GGUF blocks (34 / 18 per 32 weights) and every quant vector is 64-byte aligned.
//
// Arithmetic. f32: fp32 FMAs. bf16: activations rounded to bf16, products of bf16 pairs summed in
// fp32 (vdpbf16ps). q8_0 / q4_0: as llama.cpp's q8_0-activation path, each activation row is
// quantized per 32-block to int8 (d = max|x| / 127, kept in fp32), the block dot products are
// exact int32 sums (vpdpbusd), and y = sum over blocks of d_w * d_x * dot.
//
// Batch invariance: every output is one accumulation chain over k (over blocks for q8_0 / q4_0)
// in a fixed order, computed by one thread. A row's result is therefore bitwise the same whatever
// M, whichever other rows share the call, and whatever the thread count (for a given ISA variant):
// greedy decoding alone and inside a batch agree token for token.
//
//   std::vector<char> buf(packed_bytes(WeightFormat::BF16, N, K));      // (64-byte aligned in practice)
//   pack_weights(WeightFormat::BF16, w, N, K, /*row_stride=*/K, /*col_stride=*/1, buf.data());
//   packed_matmul({WeightFormat::BF16, N, K, buf.data()}, x, M, K, bias, y, N);
//
// infer/quant_linear.h owns packed weights; this header works on raw buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cornerstone/core/parallel.h"
#include "cornerstone/kernels/quant.h"

namespace cornerstone::kernels {

enum class WeightFormat : uint8_t { F32, BF16, Q8_0, Q4_0 };

std::string_view weight_format_name(WeightFormat f);  // "f32", "bf16", "q8_0", "q4_0"
// Throws ValueError listing the accepted names.
WeightFormat weight_format_from_name(std::string_view name);

inline constexpr int64_t kPanelRows = 16;  // output features per panel

// A packed matrix: N rows (outputs) of K weights each.
struct PackedView {
  WeightFormat format = WeightFormat::F32;
  int64_t n = 0, k = 0;
  const void* data = nullptr;  // packed_bytes(format, n, k) bytes, 64-byte aligned
};

// Bytes of a packed (N, K) matrix. q8_0 / q4_0 need K % 32 == 0 (throws ShapeError otherwise).
size_t packed_bytes(WeightFormat f, int64_t n, int64_t k);
// Bytes the weights of a (N, K) matrix take in `f` without panel padding: what a decode step reads.
size_t weight_bytes(WeightFormat f, int64_t n, int64_t k);

// Packs W from floats as f32 or bf16 (bf16 rounds to nearest even). Element (r, c) of W is
// w[r * row_stride + c * col_stride]: (N, K) row-major is (K, 1); a (K, N) transposed layout such
// as GPT-2's Conv1D is (1, N). `out` has packed_bytes(f, n, k) bytes.
void pack_weights(WeightFormat f, const float* w, int64_t n, int64_t k, int64_t row_stride, int64_t col_stride,
                  void* out);
// Packs GGUF blocks: N rows of K / 32 blocks each, row-major.
void pack_weights_q8_0(const BlockQ8_0* w, int64_t n, int64_t k, void* out);
void pack_weights_q4_0(const BlockQ4_0* w, int64_t n, int64_t k, void* out);

// Row r of W as floats (dequantized): embedding lookups from a packed (tied) embedding table.
void packed_row(const PackedView& w, int64_t r, float* out);

// y (M, N) = x (M, K) @ W^T (+ bias (N) when not null). Rows of x and y are ldx / ldy floats apart;
// y must not alias x. Threads: OpenMP over panels (the current thread count).
void packed_matmul(const PackedView& w, const float* x, int64_t m, int64_t ldx, const float* bias, float* y,
                   int64_t ldy);

// The same product computed by a team of threads (core/parallel.h), for callers that run many
// products in one parallel region (a decode step has ~60; opening a region for each costs more
// than a barrier). Every thread of the team calls it with the same arguments, its own place in the
// team and a shared `scratch` of packed_matmul_scratch(format, m, k) bytes; it returns in every
// thread once y is complete. A team of one runs it on the calling thread.
size_t packed_matmul_scratch(WeightFormat f, int64_t m, int64_t k);
void packed_matmul_team(const PackedView& w, const float* x, int64_t m, int64_t ldx, const float* bias, float* y,
                        int64_t ldy, void* scratch, const Team& team);

}  // namespace cornerstone::kernels

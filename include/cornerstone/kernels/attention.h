// Fused scaled-dot-product attention, flash-attention style: the (Tq x Tk) score matrix is never
// stored. The forward pass walks key blocks with an online softmax (running max and sum per query
// row) and saves only the per-row log-sum-exp; the backward pass recomputes scores block by block
// from q, k and that log-sum-exp. Extra memory is O(T), not O(T^2).
//
// Layout: every operand is a strided (B, T, H, D) view whose innermost D values are contiguous:
//   element (b, t, h, d) lives at data[b * batch_stride + t * token_stride + h * head_stride + d]
// so q, k and v can be read straight out of a fused (B, T, 3 * H * D) QKV projection, and the output
// written straight into the (B, T, H * D) input of the output projection, with no transposes.
//
// GQA / MQA: n_heads query heads share n_kv_heads key/value heads; query head h reads kv head
// h / (n_heads / n_kv_heads). MHA is n_kv_heads == n_heads.
//
// Positions: query i (0 <= i < q_len) sits at absolute position kv_len - q_len + i, so with a KV
// cache (q_len new tokens after kv_len - q_len cached ones) causal masking lets query i see keys
// 0 ..= kv_len - q_len + i. In training q_len == kv_len. Without the causal mask every query sees
// every key and q_len, kv_len are independent (encoders, cross-attention).
//
// Threads: OpenMP over (batch, kv head, query block) in the forward and (batch, kv head) in the
// backward. The forward's output does not depend on the thread count; the backward's is bitwise
// reproducible for a given thread count (and independent of it when batch * n_kv_heads >= 4 x threads).
// Scratch is bounded per thread whatever T (blocks of at most 512 rows, ~100 KiB per 64 rows at
// D = 64), plus a (q_len * G, D) dq buffer per extra chunk when the backward splits a (batch, kv
// head) group across threads because there are fewer groups than 4 x threads.
#pragma once

#include <cstdint>

namespace cornerstone::kernels {

template <typename T>
struct HeadsView {
  T* data;
  int64_t batch_stride;
  int64_t token_stride;
  int64_t head_stride;
};

struct AttentionDims {
  int64_t batch = 1;       // B
  int64_t q_len = 0;       // Tq
  int64_t kv_len = 0;      // Tk; causal needs Tk >= Tq
  int64_t n_heads = 1;     // Hq
  int64_t n_kv_heads = 1;  // Hkv, divides Hq
  int64_t head_dim = 64;   // D
  float scale = 0.125f;    // usually 1 / sqrt(D)
  bool causal = true;
};

// out (B, Tq, Hq, D) = softmax(scale * q k^T + mask) v.
// lse (B, Hq, Tq), contiguous: per query row, log(sum(exp(scale * q.k))) over visible keys; saved
// for the backward pass. May be null when no backward pass will follow (inference).
void attention_forward(const AttentionDims& dims, HeadsView<const float> q, HeadsView<const float> k,
                       HeadsView<const float> v, HeadsView<float> out, float* lse);

// Given dout, writes (overwrites) dq (B, Tq, Hq, D), dk and dv (B, Tk, Hkv, D). For GQA, dk and dv
// sum over the query heads of each group. Training has q_len == kv_len; any shape the forward
// accepts works. out and lse are the forward's; the gradients must not alias the inputs.
void attention_backward(const AttentionDims& dims, HeadsView<const float> q, HeadsView<const float> k,
                        HeadsView<const float> v, HeadsView<const float> out, HeadsView<const float> dout,
                        const float* lse, HeadsView<float> dq, HeadsView<float> dk, HeadsView<float> dv);

}  // namespace cornerstone::kernels

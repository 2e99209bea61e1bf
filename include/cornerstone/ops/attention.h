// Multi-head attention, differentiable: self-attention on a fused QKV projection (causal or not,
// optional rotary position embeddings), and cross-attention of one sequence's queries to another's
// keys and values. The score matrix is never materialised (kernels/attention.h).
#pragma once

#include <cstdint>

#include "cornerstone/core/tensor.h"
#include "cornerstone/kernels/rope.h"

namespace cornerstone::ops {

// cos/sin tables for rotary embeddings, built once per model.
class RopeCache {
 public:
  RopeCache() = default;
  RopeCache(float theta, int64_t head_dim, int64_t max_positions);

  bool defined() const { return cos_.defined(); }
  int64_t max_positions() const { return table_.max_pos; }
  const kernels::RopeTable& table() const { return table_; }

 private:
  Tensor cos_, sin_;  // (max_positions, head_dim / 2)
  kernels::RopeTable table_;
};

struct AttentionConfig {
  int64_t n_heads = 1;     // query heads
  int64_t n_kv_heads = 1;  // key/value heads (GQA when fewer than n_heads)
  int64_t head_dim = 64;
  bool causal = true;
  const RopeCache* rope = nullptr;  // rotary embeddings on q and k when set
  // Right-padded batches of an encoder: (B) i32, the number of real tokens of each sequence. Keys at
  // or after it are masked out for every query (BERT's attention_mask); the outputs of the padding
  // queries themselves are finite and meaningless. Undefined: every key is real. Non-causal only
  // (under a causal mask, right padding never reaches a real token).
  Tensor key_lengths;
};

// qkv (B, T, (Hq + 2 Hkv) * D), each token's row laid out [q heads | k heads | v heads]
// -> (B, T, Hq * D), heads concatenated (the input of the output projection).
Tensor attention(const Tensor& qkv, const AttentionConfig& config);

// Cross-attention (an encoder-decoder's decoder attending to the encoder's states): queries from
// one sequence, keys and values from another, every query seeing every real key (no causal mask,
// no rotary positions). Differentiable in q and kv.
struct CrossAttentionConfig {
  int64_t n_heads = 1;     // query heads
  int64_t n_kv_heads = 1;  // key/value heads (GQA when fewer than n_heads)
  int64_t head_dim = 64;
  // Right-padded encoder states: (B) i32, the number of real positions of each sequence in [1, S];
  // keys at or after it are masked out (their dk, dv are zero). Undefined: every key is real.
  Tensor key_lengths;
};

// q (B, T, Hq * D), kv (B, S, 2 * Hkv * D) with each row laid out [k heads | v heads]
// -> (B, T, Hq * D), heads concatenated. T and S are independent.
//
//   e.g. a decoder of T = 7 tokens over an encoder of S = 12 positions, 8 heads of 64:
//   q (B, 7, 512) from the decoder, kv (B, 12, 1024) from the encoder states -> (B, 7, 512)
Tensor cross_attention(const Tensor& q, const Tensor& kv, const CrossAttentionConfig& config);

}  // namespace cornerstone::ops

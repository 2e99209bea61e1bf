// The transformer block and its parts, covering the GPT-2 family (LayerNorm, GELU MLP, biases,
// learned positions outside the block) and the Llama/Qwen family (RMSNorm, SwiGLU, GQA, RoPE, no
// biases), pre-norm by default and post-norm for BERT-style encoders.
//
//   pre-norm:  x = x + attn(norm1(x));  x = x + mlp(norm2(x))
//   post-norm: x = norm1(x + attn(x));  x = norm2(x + mlp(x))
//
// Parameter names inside a block: norm1.{weight,bias}, attn.qkv.{weight,bias}, attn.proj.{weight,bias},
// norm2.*, and mlp.fc.* + mlp.proj.* (GELU) or mlp.gate_up.weight + mlp.down.weight (SwiGLU).
// The fused qkv / gate_up weights are split into the per-projection tensors of the Hugging Face
// layouts by the model converters (models/, io/).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "cornerstone/core/rng.h"
#include "cornerstone/nn/layers.h"
#include "cornerstone/ops/activation.h"
#include "cornerstone/ops/attention.h"

namespace cornerstone::nn {

enum class NormKind { LayerNorm, RMSNorm };
enum class MlpKind { Gelu, SwiGLU };

struct BlockConfig {
  int64_t d_model = 384;
  int64_t n_heads = 6;
  int64_t n_kv_heads = 6;  // < n_heads: grouped-query attention
  int64_t head_dim = 64;
  int64_t d_ff = 1536;     // MLP hidden width
  NormKind norm = NormKind::LayerNorm;
  float norm_eps = 1e-5f;
  MlpKind mlp = MlpKind::Gelu;
  ops::GeluKind gelu = ops::GeluKind::Tanh;
  bool bias = true;        // biases in the linear layers
  bool causal = true;
  bool pre_norm = true;
  float dropout = 0.0f;    // on the attention and MLP outputs (residual dropout)
  float init_std = 0.02f;
  float proj_init_std = 0.02f;  // residual projections (GPT-2 scales by 1/sqrt(2 n_layers))
};

// A norm layer chosen by kind: parameters `weight` (and `bias` for LayerNorm with bias).
class Norm : public Module {
 public:
  Norm(NormKind kind, int64_t dim, float eps, bool bias);
  Tensor forward(const Tensor& x) const;

 private:
  NormKind kind_;
  Tensor weight_, bias_;
  float eps_;
};

// x (B, T, C) -> (B, T, C): fused qkv projection, fused attention kernel, output projection.
class CausalSelfAttention : public Module {
 public:
  CausalSelfAttention(const BlockConfig& cfg, Rng& rng);
  // key_lengths: (B) real lengths of a right-padded batch (bidirectional only), or undefined.
  Tensor forward(const Tensor& x, const ops::RopeCache* rope, const Tensor& key_lengths = Tensor()) const;
  Linear& qkv() const { return *qkv_; }    // fused [q heads | k heads | v heads] projection
  Linear& proj() const { return *proj_; }  // output projection

 private:
  BlockConfig cfg_;
  std::shared_ptr<Linear> qkv_, proj_;
};

// x (..., C) -> (..., C).
class MLP : public Module {
 public:
  MLP(const BlockConfig& cfg, Rng& rng);
  Tensor forward(const Tensor& x) const;
  Linear& in() const { return *in_; }    // fc (GELU) or the fused [gate | up] projection (SwiGLU)
  Linear& out() const { return *out_; }  // proj (GELU) or down (SwiGLU)

 private:
  BlockConfig cfg_;
  std::shared_ptr<Linear> in_, out_;  // fc / gate_up, then proj / down
};

class TransformerBlock : public Module {
 public:
  TransformerBlock(const BlockConfig& cfg, Rng& rng);
  // x (B, T, C); `dropout_rng` drives residual dropout in training mode (may be null when p = 0);
  // key_lengths (B) masks the right padding of an encoder's batch (ops::AttentionConfig).
  Tensor forward(const Tensor& x, const ops::RopeCache* rope = nullptr, Rng* dropout_rng = nullptr,
                 const Tensor& key_lengths = Tensor()) const;
  const BlockConfig& config() const { return cfg_; }
  CausalSelfAttention& attention() const { return *attn_; }
  MLP& mlp() const { return *mlp_; }

 private:
  BlockConfig cfg_;
  std::shared_ptr<Norm> norm1_, norm2_;
  std::shared_ptr<CausalSelfAttention> attn_;
  std::shared_ptr<MLP> mlp_;
};

// Runs x through `blocks` in order. With `checkpoint` (activation checkpointing) each block keeps
// only its input and is recomputed in the backward pass; the recomputation replays the dropout
// generator from where the block's forward pass started, so it draws the same masks.
Tensor forward_blocks(const std::vector<std::shared_ptr<TransformerBlock>>& blocks, Tensor x, const ops::RopeCache* rope,
                      Rng* dropout_rng, const Tensor& key_lengths, bool checkpoint);

}  // namespace cornerstone::nn

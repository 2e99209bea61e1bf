// The spec a transformer block is assembled from (nn/transformer.h): sizes, the norm (kind and
// placement), self-attention (causal or not), optional cross-attention to encoder states, and the
// feed-forward. A family describes its blocks with one; it does not write a forward pass.
//
//   family       norm       placement  self-attention  cross-attention  feed-forward
//   GPT-2        LayerNorm  pre        causal          -                MLP, GELU (tanh), biases
//   Llama        RMSNorm    pre        causal, GQA     -                MLP, SwiGLU, no biases
//   BERT         LayerNorm  post       bidirectional   -                MLP, GELU (erf), biases
//   ViT / CLIP   LayerNorm  pre        bidirectional   -                MLP, GELU
//   T5 / Marian  (decoder)             causal          yes              MLP
//
// Positions (learned tables, RoPE) live outside the block: the model adds a table to its
// embeddings, or passes an ops::RopeCache to every block.
#pragma once

#include <cstdint>

#include "cornerstone/kernels/activation.h"

namespace cornerstone::nn {

enum class NormKind { LayerNorm, RMSNorm };
// The MLP's activation: GELU (fc -> gelu -> proj) or SwiGLU (gate_up -> silu(gate) * up -> down).
enum class MlpKind { Gelu, SwiGLU };
// The feed-forward implementation (nn/feed_forward.h). A mixture of experts is the next kind:
// it adds a value here and a case in make_feed_forward().
enum class FeedForwardKind { MLP };

struct BlockConfig {
  int64_t d_model = 384;
  int64_t n_heads = 6;
  int64_t n_kv_heads = 6;  // < n_heads: grouped-query attention
  int64_t head_dim = 64;
  int64_t d_ff = 1536;     // feed-forward hidden width
  // Norms: kind, epsilon, and placement.
  //   pre-norm:  x = x + attn(norm1(x));  x = x + mlp(norm2(x))
  //   post-norm: x = norm1(x + attn(x));  x = norm2(x + mlp(x))
  NormKind norm = NormKind::LayerNorm;
  float norm_eps = 1e-5f;
  bool pre_norm = true;
  bool causal = true;              // self-attention masks later positions (decoders)
  // Cross-attention to encoder states after the self-attention, with its own norm (norm_cross)
  // placed like the others: an encoder-decoder's decoder block.
  bool cross_attention = false;
  int64_t d_encoder = 0;           // width of the encoder states; 0: d_model
  FeedForwardKind feed_forward = FeedForwardKind::MLP;
  MlpKind mlp = MlpKind::Gelu;
  kernels::GeluKind gelu = kernels::GeluKind::Tanh;
  bool bias = true;                // biases in the linear layers and LayerNorms
  float dropout = 0.0f;            // on the attention and MLP outputs (residual dropout)
  float init_std = 0.02f;
  float proj_init_std = 0.02f;     // residual projections (GPT-2 scales by 1/sqrt(2 n_layers))

  int64_t encoder_width() const { return d_encoder > 0 ? d_encoder : d_model; }
};

}  // namespace cornerstone::nn

// The transformer block, assembled from its parts by a spec (nn/block_config.h):
//
//   pre-norm:  x = x + attn(norm1(x));  [x = x + cross(norm_cross(x), enc);]  x = x + mlp(norm2(x))
//   post-norm: x = norm1(x + attn(x));  [x = norm_cross(x + cross(x, enc));]  x = norm2(x + mlp(x))
//
// with attn a SelfAttention (causal or not, nn/attention.h), cross an optional CrossAttention to
// encoder states, and mlp a FeedForward (nn/feed_forward.h). GPT-2, Llama and BERT blocks are
// configurations of it, and so are ViT / CLIP towers, T5 / Marian decoder blocks and MoE decoders.
//
// Parameter names inside a block (stable: checkpoints, Hugging Face tables and LoRA sites key on
// them): norm1.{weight,bias}, attn.qkv.{weight,bias}, attn.proj.*, [norm_cross.*, cross_attn.q.*,
// cross_attn.kv.*, cross_attn.proj.*,] norm2.*, and mlp.fc.* + mlp.proj.* (GELU) or
// mlp.gate_up.weight + mlp.down.weight (SwiGLU). The fused qkv / kv / gate_up weights are split
// into the per-projection tensors of the Hugging Face layouts by the family tables (models/).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "cornerstone/core/rng.h"
#include "cornerstone/nn/attention.h"
#include "cornerstone/nn/block_config.h"
#include "cornerstone/nn/feed_forward.h"
#include "cornerstone/nn/norm.h"
#include "cornerstone/ops/activation.h"
#include "cornerstone/ops/attention.h"

namespace cornerstone::nn {

// What a block's cross-attention reads: an encoder's output states (B, S, C_enc) and, for a
// right-padded batch, their real lengths (B) i32 (undefined: all S are real).
struct EncoderStates {
  Tensor states;
  Tensor lengths;
};

class TransformerBlock : public Module {
 public:
  TransformerBlock(const BlockConfig& cfg, Rng& rng);
  // x (B, T, C); `dropout_rng` drives residual dropout in training mode (may be null when p = 0);
  // key_lengths (B) masks the right padding of an encoder's batch (ops::AttentionConfig);
  // `encoder` is required by (and only by) a block with cross-attention.
  Tensor forward(const Tensor& x, const ops::RopeCache* rope = nullptr, Rng* dropout_rng = nullptr,
                 const Tensor& key_lengths = Tensor(), const EncoderStates* encoder = nullptr) const;
  const BlockConfig& config() const { return cfg_; }
  Norm& norm1() const { return *norm1_; }
  Norm& norm2() const { return *norm2_; }
  SelfAttention& attention() const { return *attn_; }
  // Null without cross-attention.
  CrossAttention* cross_attention() const { return cross_.get(); }
  Norm* norm_cross() const { return norm_cross_.get(); }
  FeedForward& feed_forward() const { return *ffn_; }
  // The feed-forward as an MLP; UnsupportedError when it is another kind.
  MLP& mlp() const;
  // Tensor parallelism (nn/tensor_parallel.h): keeps this process's share of the attention heads
  // and the feed-forward; returns the split parameters, named from here ("attn.qkv.weight").
  TensorParallelPlan shard(dist::ProcessGroup& group);

 private:
  BlockConfig cfg_;
  std::shared_ptr<Norm> norm1_, norm_cross_, norm2_;
  std::shared_ptr<SelfAttention> attn_;
  std::shared_ptr<CrossAttention> cross_;
  std::shared_ptr<FeedForward> ffn_;
};

// Runs x through `blocks` in order. With `checkpoint` (activation checkpointing) each block keeps
// only its input and is recomputed in the backward pass; the recomputation replays the dropout
// generator from where the block's forward pass started, so it draws the same masks.
Tensor forward_blocks(const std::vector<std::shared_ptr<TransformerBlock>>& blocks, Tensor x, const ops::RopeCache* rope,
                      Rng* dropout_rng, const Tensor& key_lengths, bool checkpoint, const EncoderStates* encoder = nullptr);

}  // namespace cornerstone::nn

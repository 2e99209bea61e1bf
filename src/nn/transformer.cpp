#include "cornerstone/nn/transformer.h"

#include "cornerstone/autograd/checkpoint.h"
#include "cornerstone/core/error.h"
#include "cornerstone/ops/dropout.h"
#include "cornerstone/ops/elementwise.h"

namespace cornerstone::nn {

TransformerBlock::TransformerBlock(const BlockConfig& cfg, Rng& rng) : cfg_(cfg) {
  // Registration order is the parameter order (checkpoints, optimizer state): keep it.
  norm1_ = register_module("norm1", std::make_shared<Norm>(cfg.norm, cfg.d_model, cfg.norm_eps, cfg.bias));
  attn_ = register_module("attn", std::make_shared<SelfAttention>(cfg, rng));
  if (cfg.cross_attention) {
    norm_cross_ = register_module("norm_cross", std::make_shared<Norm>(cfg.norm, cfg.d_model, cfg.norm_eps, cfg.bias));
    cross_ = register_module("cross_attn", std::make_shared<CrossAttention>(cfg, rng));
  }
  norm2_ = register_module("norm2", std::make_shared<Norm>(cfg.norm, cfg.d_model, cfg.norm_eps, cfg.bias));
  ffn_ = register_module("mlp", make_feed_forward(cfg, rng));
}

MLP& TransformerBlock::mlp() const {
  auto* m = dynamic_cast<MLP*>(ffn_.get());
  if (!m) throw UnsupportedError("transformer block: the feed-forward is not an MLP");
  return *m;
}

TensorParallelPlan TransformerBlock::shard(dist::ProcessGroup& group) {
  if (cross_) throw UnsupportedError("tensor parallelism of cross-attention blocks (encoder-decoder models)");
  TensorParallelPlan plan;
  for (auto& [prefix, part] : {std::pair<std::string, TensorParallelPlan>{"attn.", attn_->shard(group)}, {"mlp.", ffn_->shard(group)}})
    for (ShardedParameter p : part) {
      p.name = prefix + p.name;
      plan.push_back(std::move(p));
    }
  return plan;
}

Tensor TransformerBlock::forward(const Tensor& x, const ops::RopeCache* rope, Rng* dropout_rng, const Tensor& key_lengths,
                                 const EncoderStates* encoder) const {
  if (cross_ && (!encoder || !encoder->states.defined()))
    throw ValueError("transformer block: the block cross-attends to encoder states, and none were given");
  if (!cross_ && encoder && encoder->states.defined())
    throw ValueError("transformer block: encoder states were given to a block without cross-attention");
  auto drop = [&](const Tensor& t) {
    if (!training() || cfg_.dropout == 0.0f) return t;
    if (!dropout_rng) throw ValueError("transformer block: dropout is on but no random generator was given");
    return ops::dropout(t, cfg_.dropout, *dropout_rng);
  };
  auto cross = [&](const Tensor& h) { return drop(cross_->forward(h, encoder->states, encoder->lengths)); };
  if (cfg_.pre_norm) {
    Tensor h = ops::add(x, drop(attn_->forward(norm1_->forward(x), rope, key_lengths)));
    if (cross_) h = ops::add(h, cross(norm_cross_->forward(h)));
    return ops::add(h, drop(ffn_->forward(norm2_->forward(h))));
  }
  Tensor h = norm1_->forward(ops::add(x, drop(attn_->forward(x, rope, key_lengths))));
  if (cross_) h = norm_cross_->forward(ops::add(h, cross(h)));
  return norm2_->forward(ops::add(h, drop(ffn_->forward(h))));
}

Tensor forward_blocks(const std::vector<std::shared_ptr<TransformerBlock>>& blocks, Tensor x, const ops::RopeCache* rope,
                      Rng* dropout_rng, const Tensor& key_lengths, bool checkpoint, const EncoderStates* encoder) {
  // The recomputation back-propagates inside the checkpoint's own graph, which reaches x only:
  // encoder states that need gradients would not get theirs.
  if (checkpoint && encoder && encoder->states.defined() && encoder->states.requires_grad())
    throw UnsupportedError("activation checkpointing of cross-attention blocks whose encoder states need gradients");
  for (const auto& block : blocks) {
    if (!checkpoint) {
      x = block->forward(x, rope, dropout_rng, key_lengths, encoder);
      continue;
    }
    const uint64_t start = dropout_rng ? dropout_rng->offset() : 0;
    bool first = true;
    // The recomputation runs in the backward pass, after the caller's EncoderStates is gone: keep a copy.
    const bool has_encoder = encoder && encoder->states.defined();
    const EncoderStates enc = has_encoder ? *encoder : EncoderStates();
    x = autograd::checkpoint(
        [&block, rope, dropout_rng, key_lengths, enc, has_encoder, start, first](const Tensor& in) mutable {
          const EncoderStates* e = has_encoder ? &enc : nullptr;
          if (first || !dropout_rng) {
            first = false;
            return block->forward(in, rope, dropout_rng, key_lengths, e);
          }
          const uint64_t now = dropout_rng->offset();
          dropout_rng->set_state(dropout_rng->seed(), start);
          Tensor out = block->forward(in, rope, dropout_rng, key_lengths, e);
          dropout_rng->set_state(dropout_rng->seed(), now);
          return out;
        },
        x);
  }
  return x;
}

}  // namespace cornerstone::nn

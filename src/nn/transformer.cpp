#include "cornerstone/nn/transformer.h"

#include "cornerstone/autograd/checkpoint.h"
#include "cornerstone/core/error.h"
#include "cornerstone/ops/activation.h"
#include "cornerstone/ops/dropout.h"
#include "cornerstone/ops/elementwise.h"
#include "cornerstone/ops/norm.h"

namespace cornerstone::nn {

Norm::Norm(NormKind kind, int64_t dim, float eps, bool bias) : kind_(kind), eps_(eps) {
  weight_ = register_parameter("weight", Tensor::full({dim}, 1.0f));
  if (kind == NormKind::LayerNorm && bias) bias_ = register_parameter("bias", Tensor::zeros({dim}));
}

Tensor Norm::forward(const Tensor& x) const {
  return kind_ == NormKind::LayerNorm ? ops::layer_norm(x, weight_, bias_, eps_) : ops::rms_norm(x, weight_, eps_);
}

CausalSelfAttention::CausalSelfAttention(const BlockConfig& cfg, Rng& rng) : cfg_(cfg) {
  if (cfg.n_heads % cfg.n_kv_heads != 0)
    throw ValueError("attention: n_heads " + std::to_string(cfg.n_heads) + " is not a multiple of n_kv_heads " +
                     std::to_string(cfg.n_kv_heads));
  const int64_t qkv_width = (cfg.n_heads + 2 * cfg.n_kv_heads) * cfg.head_dim;
  qkv_ = register_module("qkv", std::make_shared<Linear>(cfg.d_model, qkv_width, cfg.bias, rng, cfg.init_std));
  proj_ = register_module("proj", std::make_shared<Linear>(cfg.n_heads * cfg.head_dim, cfg.d_model, cfg.bias, rng,
                                                           cfg.proj_init_std));
}

Tensor CausalSelfAttention::forward(const Tensor& x, const ops::RopeCache* rope, const Tensor& key_lengths) const {
  ops::AttentionConfig ac;
  ac.n_heads = cfg_.n_heads, ac.n_kv_heads = cfg_.n_kv_heads, ac.head_dim = cfg_.head_dim;
  ac.causal = cfg_.causal, ac.rope = rope, ac.key_lengths = key_lengths;
  return proj_->forward(ops::attention(qkv_->forward(x), ac));
}

MLP::MLP(const BlockConfig& cfg, Rng& rng) : cfg_(cfg) {
  if (cfg.mlp == MlpKind::Gelu) {
    in_ = register_module("fc", std::make_shared<Linear>(cfg.d_model, cfg.d_ff, cfg.bias, rng, cfg.init_std));
    out_ = register_module("proj", std::make_shared<Linear>(cfg.d_ff, cfg.d_model, cfg.bias, rng, cfg.proj_init_std));
  } else {
    in_ = register_module("gate_up", std::make_shared<Linear>(cfg.d_model, 2 * cfg.d_ff, cfg.bias, rng, cfg.init_std));
    out_ = register_module("down", std::make_shared<Linear>(cfg.d_ff, cfg.d_model, cfg.bias, rng, cfg.proj_init_std));
  }
}

Tensor MLP::forward(const Tensor& x) const {
  return out_->forward(cfg_.mlp == MlpKind::Gelu ? in_->forward_gelu(x, cfg_.gelu) : ops::swiglu(in_->forward(x)));
}

TransformerBlock::TransformerBlock(const BlockConfig& cfg, Rng& rng) : cfg_(cfg) {
  norm1_ = register_module("norm1", std::make_shared<Norm>(cfg.norm, cfg.d_model, cfg.norm_eps, cfg.bias));
  attn_ = register_module("attn", std::make_shared<CausalSelfAttention>(cfg, rng));
  norm2_ = register_module("norm2", std::make_shared<Norm>(cfg.norm, cfg.d_model, cfg.norm_eps, cfg.bias));
  mlp_ = register_module("mlp", std::make_shared<MLP>(cfg, rng));
}

Tensor TransformerBlock::forward(const Tensor& x, const ops::RopeCache* rope, Rng* dropout_rng,
                                 const Tensor& key_lengths) const {
  auto drop = [&](const Tensor& t) {
    if (!training() || cfg_.dropout == 0.0f) return t;
    if (!dropout_rng) throw ValueError("transformer block: dropout is on but no random generator was given");
    return ops::dropout(t, cfg_.dropout, *dropout_rng);
  };
  if (cfg_.pre_norm) {
    const Tensor h = ops::add(x, drop(attn_->forward(norm1_->forward(x), rope, key_lengths)));
    return ops::add(h, drop(mlp_->forward(norm2_->forward(h))));
  }
  const Tensor h = norm1_->forward(ops::add(x, drop(attn_->forward(x, rope, key_lengths))));
  return norm2_->forward(ops::add(h, drop(mlp_->forward(h))));
}

Tensor forward_blocks(const std::vector<std::shared_ptr<TransformerBlock>>& blocks, Tensor x, const ops::RopeCache* rope,
                      Rng* dropout_rng, const Tensor& key_lengths, bool checkpoint) {
  for (const auto& block : blocks) {
    if (!checkpoint) {
      x = block->forward(x, rope, dropout_rng, key_lengths);
      continue;
    }
    const uint64_t start = dropout_rng ? dropout_rng->offset() : 0;
    bool first = true;
    x = autograd::checkpoint(
        [&block, rope, dropout_rng, key_lengths, start, first](const Tensor& in) mutable {
          if (first || !dropout_rng) {
            first = false;
            return block->forward(in, rope, dropout_rng, key_lengths);
          }
          const uint64_t now = dropout_rng->offset();
          dropout_rng->set_state(dropout_rng->seed(), start);
          Tensor out = block->forward(in, rope, dropout_rng, key_lengths);
          dropout_rng->set_state(dropout_rng->seed(), now);
          return out;
        },
        x);
  }
  return x;
}

}  // namespace cornerstone::nn

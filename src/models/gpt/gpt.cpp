#include "cornerstone/models/gpt/gpt.h"

#include "cornerstone/core/error.h"
#include "cornerstone/ops/embedding.h"
#include "cornerstone/ops/linear.h"
#include "cornerstone/ops/loss.h"

namespace cornerstone::models {

GPT::GPT(const DecoderConfig& config, uint64_t seed, bool random_init) : cfg_(config), tie_(config.tie_embeddings) {
  cfg_.validate();
  Rng rng(seed);
  nn::BlockConfig bc = cfg_.block();
  const float std = random_init ? cfg_.init_std : 0.0f;  // 0: zeros, no random draws
  if (!random_init) bc.init_std = bc.proj_init_std = 0.0f;
  wte_ = register_module("wte", std::make_shared<nn::Embedding>(cfg_.vocab_size, cfg_.d_model, rng, std));
  if (cfg_.learned_positions())
    wpe_ = register_module("wpe", std::make_shared<nn::Embedding>(cfg_.context, cfg_.d_model, rng, std));
  for (int64_t i = 0; i < cfg_.n_layers; ++i)
    blocks_.push_back(register_module("blocks." + std::to_string(i), std::make_shared<nn::TransformerBlock>(bc, rng)));
  norm_f_ = register_module("norm_f", std::make_shared<nn::Norm>(bc.norm, cfg_.d_model, cfg_.norm_eps, bc.bias));
  if (!tie_)
    lm_head_ = register_parameter("lm_head.weight", std == 0.0f ? Tensor::zeros({cfg_.vocab_size, cfg_.d_model})
                                                                : Tensor::randn({cfg_.vocab_size, cfg_.d_model}, rng, std));
  if (!cfg_.learned_positions()) rope_ = ops::RopeCache(cfg_.rope_theta, cfg_.head_dim(), cfg_.context);
}

Tensor GPT::hidden(const Tensor& ids, int64_t start_pos, Rng* dropout_rng) const {
  check_dtype(ids, DType::I32, "gpt", "ids");
  check_ndim(ids, 2, "gpt", "ids");
  const int64_t B = ids.size(0), T = ids.size(1);
  if (start_pos + T > cfg_.context)
    throw ShapeError("gpt: positions " + std::to_string(start_pos) + ".." + std::to_string(start_pos + T - 1) +
                     " exceed the model's context of " + std::to_string(cfg_.context) + " tokens");
  Tensor x = wte_->forward(ids);  // (B, T, C)
  if (wpe_) x = ops::add_positions(x, wpe_->weight(), start_pos);
  (void)B;
  x = nn::forward_blocks(blocks_, x, rope(), dropout_rng, Tensor(), checkpoint_);
  return norm_f_->forward(x);
}

Tensor GPT::loss(const Tensor& ids, const Tensor& targets, Rng* dropout_rng) const {
  check_dtype(targets, DType::I32, "gpt", "targets");
  if (targets.shape() != ids.shape())
    throw ShapeError("gpt: targets " + targets.shape().str() + " must have the shape of ids " + ids.shape().str());
  return ops::lm_head_cross_entropy(hidden(ids, 0, dropout_rng), lm_head_weight(), Tensor(), targets);
}

Tensor GPT::logits(const Tensor& h) const { return ops::linear(h, lm_head_weight()); }

Tensor GPT::hidden_states(const data::Batch& batch, Rng* dropout_rng) const {
  if (batch.has(data::batch_keys::segments))
    throw UnsupportedError("gpt: segment ids (sentence pairs) are for encoders; a decoder reads one text");
  const Tensor& ids = batch.get(data::batch_keys::ids, "gpt");
  check_ndim(ids, 2, "gpt", "ids");
  checked_lengths(ids.size(0), ids.size(1), batch[data::batch_keys::lengths], "gpt");
  return hidden(ids, 0, dropout_rng);
}

Tensor GPT::lm_loss(const data::Batch& batch, Rng* dropout_rng) const {
  return loss(batch.get(data::batch_keys::ids, "gpt"), batch.get(data::batch_keys::targets, "gpt"), dropout_rng);
}

nn::TensorParallelPlan GPT::shard_tensor_parallel(dist::ProcessGroup& group) {
  nn::TensorParallelPlan plan;
  for (size_t i = 0; i < blocks_.size(); ++i)
    for (nn::ShardedParameter p : blocks_[i]->shard(group)) {
      p.name = "blocks." + std::to_string(i) + "." + p.name;
      plan.push_back(std::move(p));
    }
  return plan;
}

Tensor GPT::sequence_features(const Tensor& h, const Tensor& lengths) const { return last_token_states(h, lengths, "gpt"); }

}  // namespace cornerstone::models

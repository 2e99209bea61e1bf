#include "cornerstone/nn/attention.h"

#include "cornerstone/core/error.h"
#include "cornerstone/ops/tensor_parallel.h"

namespace cornerstone::nn {

namespace {
void check_heads(const BlockConfig& cfg, const char* what) {
  if (cfg.n_heads <= 0 || cfg.n_kv_heads <= 0 || cfg.n_heads % cfg.n_kv_heads != 0)
    throw ValueError(std::string(what) + ": n_heads " + std::to_string(cfg.n_heads) + " is not a positive multiple of n_kv_heads " +
                     std::to_string(cfg.n_kv_heads));
}
}  // namespace

SelfAttention::SelfAttention(const BlockConfig& cfg, Rng& rng) : cfg_(cfg) {
  check_heads(cfg, "attention");
  const int64_t qkv_width = (cfg.n_heads + 2 * cfg.n_kv_heads) * cfg.head_dim;
  qkv_ = register_module("qkv", std::make_shared<Linear>(cfg.d_model, qkv_width, cfg.bias, rng, cfg.init_std));
  proj_ = register_module("proj", std::make_shared<Linear>(cfg.n_heads * cfg.head_dim, cfg.d_model, cfg.bias, rng,
                                                           cfg.proj_init_std));
}

Tensor SelfAttention::forward(const Tensor& x, const ops::RopeCache* rope, const Tensor& key_lengths) const {
  ops::AttentionConfig ac;
  ac.n_heads = cfg_.n_heads, ac.n_kv_heads = cfg_.n_kv_heads, ac.head_dim = cfg_.head_dim;
  ac.causal = cfg_.causal, ac.rope = rope, ac.key_lengths = key_lengths;
  if (!group_) return proj_->forward(ops::attention(qkv_->forward(x), ac));
  const Tensor partial = proj_->forward(ops::attention(qkv_->forward(ops::enter_tensor_parallel(x, *group_)), ac));
  return ops::leave_tensor_parallel(partial, *group_);
}

TensorParallelPlan SelfAttention::shard(dist::ProcessGroup& group) {
  const int64_t size = group.size(), rank = group.rank();
  if (group_) throw ValueError("attention: already split for tensor parallelism");
  if (cfg_.n_heads % size != 0 || cfg_.n_kv_heads % size != 0)
    throw ValueError("tensor parallel: " + std::to_string(cfg_.n_heads) + " query and " + std::to_string(cfg_.n_kv_heads) +
                     " key/value heads do not split over " + std::to_string(size) + " processes");
  const int64_t D = cfg_.head_dim, q = cfg_.n_heads * D, kv = cfg_.n_kv_heads * D;
  const ShardSpec rows{0, {q, kv, kv}, false}, cols{1, {q}, false}, first{0, {}, true};
  qkv_->keep_rows(share_ranges(rows, rank, size));
  const auto c = share_ranges(cols, rank, size).front();
  proj_->keep_columns(c.first, c.second, rank == 0);
  cfg_.n_heads /= size, cfg_.n_kv_heads /= size;
  group_ = &group;
  TensorParallelPlan plan{{"qkv.weight", rows, qkv_.get(), false}, {"proj.weight", cols, proj_.get(), false}};
  if (qkv_->bias().defined()) plan.push_back({"qkv.bias", rows, qkv_.get(), true});
  if (proj_->bias().defined()) plan.push_back({"proj.bias", first, proj_.get(), true});
  return plan;
}

CrossAttention::CrossAttention(const BlockConfig& cfg, Rng& rng) : cfg_(cfg) {
  check_heads(cfg, "cross-attention");
  q_ = register_module("q", std::make_shared<Linear>(cfg.d_model, cfg.n_heads * cfg.head_dim, cfg.bias, rng, cfg.init_std));
  kv_ = register_module("kv", std::make_shared<Linear>(cfg.encoder_width(), 2 * cfg.n_kv_heads * cfg.head_dim, cfg.bias, rng,
                                                       cfg.init_std));
  proj_ = register_module("proj", std::make_shared<Linear>(cfg.n_heads * cfg.head_dim, cfg.d_model, cfg.bias, rng,
                                                           cfg.proj_init_std));
}

Tensor CrossAttention::forward(const Tensor& x, const Tensor& encoder_states, const Tensor& encoder_lengths) const {
  ops::CrossAttentionConfig ac;
  ac.n_heads = cfg_.n_heads, ac.n_kv_heads = cfg_.n_kv_heads, ac.head_dim = cfg_.head_dim, ac.key_lengths = encoder_lengths;
  return proj_->forward(ops::cross_attention(q_->forward(x), kv_->forward(encoder_states), ac));
}

}  // namespace cornerstone::nn

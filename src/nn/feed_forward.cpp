#include "cornerstone/nn/feed_forward.h"

#include "cornerstone/core/error.h"
#include "cornerstone/ops/activation.h"
#include "cornerstone/ops/tensor_parallel.h"

namespace cornerstone::nn {

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
  const Tensor in = group_ ? ops::enter_tensor_parallel(x, *group_) : x;
  const Tensor y = out_->forward(cfg_.mlp == MlpKind::Gelu ? in_->forward_gelu(in, cfg_.gelu) : ops::swiglu(in_->forward(in)));
  return group_ ? ops::leave_tensor_parallel(y, *group_) : y;
}

TensorParallelPlan MLP::shard(dist::ProcessGroup& group) {
  const int64_t size = group.size(), rank = group.rank();
  if (group_) throw ValueError("mlp: already split for tensor parallelism");
  if (cfg_.d_ff % size != 0)
    throw ValueError("tensor parallel: d_ff " + std::to_string(cfg_.d_ff) + " does not split over " + std::to_string(size) + " processes");
  const int64_t F = cfg_.d_ff;
  // SwiGLU's fused [gate | up] rows: each process keeps its share of gate and the same share of up.
  const ShardSpec rows{0, cfg_.mlp == MlpKind::Gelu ? std::vector<int64_t>{F} : std::vector<int64_t>{F, F}, false};
  const ShardSpec cols{1, {F}, false}, first{0, {}, true};
  in_->keep_rows(share_ranges(rows, rank, size));
  const auto c = share_ranges(cols, rank, size).front();
  out_->keep_columns(c.first, c.second, rank == 0);
  group_ = &group;
  const std::string in = cfg_.mlp == MlpKind::Gelu ? "fc" : "gate_up", out = cfg_.mlp == MlpKind::Gelu ? "proj" : "down";
  TensorParallelPlan plan{{in + ".weight", rows, in_.get(), false}, {out + ".weight", cols, out_.get(), false}};
  if (in_->bias().defined()) plan.push_back({in + ".bias", rows, in_.get(), true});
  if (out_->bias().defined()) plan.push_back({out + ".bias", first, out_.get(), true});
  return plan;
}

std::shared_ptr<FeedForward> make_feed_forward(const BlockConfig& cfg, Rng& rng) {
  switch (cfg.feed_forward) {
    case FeedForwardKind::MLP: break;
  }
  return std::make_shared<MLP>(cfg, rng);
}

}  // namespace cornerstone::nn

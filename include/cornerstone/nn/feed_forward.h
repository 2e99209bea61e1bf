// The feed-forward half of a transformer block behind one interface: x (..., C) -> (..., C).
// The MLP is one implementation; a mixture of experts will be another (BlockConfig::feed_forward
// picks it, make_feed_forward() builds it). The block registers it as "mlp".
#pragma once

#include <memory>

#include "cornerstone/core/rng.h"
#include "cornerstone/dist/process_group.h"
#include "cornerstone/nn/block_config.h"
#include "cornerstone/nn/layers.h"
#include "cornerstone/nn/tensor_parallel.h"

namespace cornerstone::nn {

class FeedForward : public Module {
 public:
  virtual Tensor forward(const Tensor& x) const = 0;
  // Tensor parallelism (nn/tensor_parallel.h): keeps this process's share; returns the split
  // parameters, named from here.
  virtual TensorParallelPlan shard(dist::ProcessGroup& group) = 0;
};

// GELU:   proj(gelu(fc(x)))                   parameters fc.*, proj.*      (fc: (F, C))
// SwiGLU: down(silu(gate) * up), [gate | up] = gate_up(x)    gate_up.*, down.*   (gate_up: (2F, C))
class MLP : public FeedForward {
 public:
  MLP(const BlockConfig& cfg, Rng& rng);
  Tensor forward(const Tensor& x) const override;
  TensorParallelPlan shard(dist::ProcessGroup& group) override;
  MlpKind kind() const { return cfg_.mlp; }
  kernels::GeluKind gelu() const { return cfg_.gelu; }
  Linear& in() const { return *in_; }    // fc (GELU) or the fused [gate | up] projection (SwiGLU)
  Linear& out() const { return *out_; }  // proj (GELU) or down (SwiGLU)

 private:
  BlockConfig cfg_;
  std::shared_ptr<Linear> in_, out_;  // fc / gate_up, then proj / down
  dist::ProcessGroup* group_ = nullptr;  // tensor parallel: the group sharing the d_ff columns
};

// The feed-forward `cfg.feed_forward` names.
std::shared_ptr<FeedForward> make_feed_forward(const BlockConfig& cfg, Rng& rng);

}  // namespace cornerstone::nn

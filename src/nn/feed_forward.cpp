#include "cornerstone/nn/feed_forward.h"

#include "cornerstone/ops/activation.h"

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
  return out_->forward(cfg_.mlp == MlpKind::Gelu ? in_->forward_gelu(x, cfg_.gelu) : ops::swiglu(in_->forward(x)));
}

std::shared_ptr<FeedForward> make_feed_forward(const BlockConfig& cfg, Rng& rng) {
  switch (cfg.feed_forward) {
    case FeedForwardKind::MLP: break;
  }
  return std::make_shared<MLP>(cfg, rng);
}

}  // namespace cornerstone::nn

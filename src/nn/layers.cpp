#include "cornerstone/nn/layers.h"

#include "cornerstone/ops/embedding.h"
#include "cornerstone/ops/linear.h"
#include "cornerstone/ops/norm.h"

namespace cornerstone::nn {

namespace {
// N(0, std^2) weights; std == 0 gives zeros without drawing (a model about to be loaded).
Tensor init_weight(const Shape& shape, Rng& rng, float std) {
  return std == 0.0f ? Tensor::zeros(shape) : Tensor::randn(shape, rng, std);
}
}  // namespace

Linear::Linear(int64_t in_features, int64_t out_features, bool bias, Rng& rng, float init_std) {
  weight_ = register_parameter("weight", init_weight({out_features, in_features}, rng, init_std));
  if (bias) bias_ = register_parameter("bias", Tensor::zeros({out_features}));
}

Tensor Linear::forward(const Tensor& x) const { return ops::linear(x, weight_, bias_); }

Embedding::Embedding(int64_t num_embeddings, int64_t dim, Rng& rng, float init_std) {
  weight_ = register_parameter("weight", init_weight({num_embeddings, dim}, rng, init_std));
}

Tensor Embedding::forward(const Tensor& ids) const { return ops::embedding(weight_, ids); }

LayerNorm::LayerNorm(int64_t dim, float eps, bool bias) : eps_(eps) {
  weight_ = register_parameter("weight", Tensor::full({dim}, 1.0f));
  if (bias) bias_ = register_parameter("bias", Tensor::zeros({dim}));
}

Tensor LayerNorm::forward(const Tensor& x) const { return ops::layer_norm(x, weight_, bias_, eps_); }

RMSNorm::RMSNorm(int64_t dim, float eps) : eps_(eps) { weight_ = register_parameter("weight", Tensor::full({dim}, 1.0f)); }

Tensor RMSNorm::forward(const Tensor& x) const { return ops::rms_norm(x, weight_, eps_); }

}  // namespace cornerstone::nn

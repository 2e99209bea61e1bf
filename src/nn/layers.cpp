#include "cornerstone/nn/layers.h"

#include "cornerstone/core/error.h"
#include "cornerstone/ops/activation.h"
#include "cornerstone/ops/embedding.h"
#include "cornerstone/ops/linear.h"
#include "cornerstone/ops/quantize.h"

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

Tensor Linear::forward(const Tensor& x) const {
  const Tensor y = frozen_weight_.defined() ? ops::linear_frozen(x, frozen_weight_, bias_) : ops::linear(x, weight_, bias_);
  return adapter_ ? adapter_->apply(x, y) : y;
}

Tensor Linear::forward_gelu(const Tensor& x, kernels::GeluKind kind) const {
  if (!frozen_weight_.defined() && !adapter_) return ops::linear_gelu(x, weight_, bias_, kind);
  return ops::gelu(forward(x), kind);
}

void Linear::set_adapter(std::shared_ptr<LinearAdapter> adapter) {
  unregister_module("adapter");
  adapter_ = std::move(adapter);
  if (adapter_) register_module("adapter", adapter_);
}

void Linear::freeze(DType storage) {
  weight_.requires_grad_(false);
  if (bias_.defined()) bias_.requires_grad_(false);
  frozen_ = true;
  if (storage == DType::F32) return;
  if (storage != DType::BF16 && storage != DType::Q8_0)
    throw UnsupportedError("freeze: a frozen weight is stored as f32, bf16 or q8_0, not " + std::string(dtype_name(storage)));
  frozen_weight_ = storage == DType::BF16 ? weight_.detach().to(DType::BF16) : ops::quantize(weight_.detach(), DType::Q8_0);
  // The fp32 copy is no longer needed: the reduced-precision one is the layer's weight now.
  unregister_parameter("weight");
  weight_ = Tensor();
}

Embedding::Embedding(int64_t num_embeddings, int64_t dim, Rng& rng, float init_std) {
  weight_ = register_parameter("weight", init_weight({num_embeddings, dim}, rng, init_std));
}

Tensor Embedding::forward(const Tensor& ids) const { return ops::embedding(weight_, ids); }

}  // namespace cornerstone::nn

#include "cornerstone/nn/layers.h"

#include <algorithm>
#include <string>

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
  const Tensor& b = add_bias_ ? bias_ : Tensor();
  const Tensor y = frozen_weight_.defined() ? ops::linear_frozen(x, frozen_weight_, b) : ops::linear(x, weight_, b);
  return adapter_ ? adapter_->apply(x, y) : y;
}

Tensor Linear::forward_gelu(const Tensor& x, kernels::GeluKind kind) const {
  if (!frozen_weight_.defined() && !adapter_) return ops::linear_gelu(x, weight_, add_bias_ ? bias_ : Tensor(), kind);
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

namespace {

void check_shardable(const Linear& l, const Tensor& w, const char* what) {
  if (l.frozen() || l.adapter() || !w.defined() || w.dtype() != DType::F32)
    throw UnsupportedError(std::string("tensor parallelism: ") + what + " needs a trainable fp32 linear layer without adapters");
}

}  // namespace

void Linear::keep_rows(const std::vector<std::pair<int64_t, int64_t>>& ranges) {
  check_shardable(*this, weight_, "keep_rows");
  const int64_t in = weight_.size(1), out = weight_.size(0);
  int64_t rows = 0;
  for (const auto& [lo, hi] : ranges) {
    if (lo < 0 || hi > out || lo > hi) throw ValueError("keep_rows: rows [" + std::to_string(lo) + ", " + std::to_string(hi) + ") of " + std::to_string(out));
    rows += hi - lo;
  }
  Tensor w = Tensor::empty({rows, in}), b = bias_.defined() ? Tensor::empty({rows}) : Tensor();
  const Tensor wc = weight_.contiguous();
  int64_t at = 0;
  for (const auto& [lo, hi] : ranges) {
    std::copy(wc.data<float>() + lo * in, wc.data<float>() + hi * in, w.data<float>() + at * in);
    if (b.defined()) std::copy(bias_.data<float>() + lo, bias_.data<float>() + hi, b.data<float>() + at);
    at += hi - lo;
  }
  replace(w, b);
}

void Linear::keep_columns(int64_t lo, int64_t hi, bool add_bias) {
  check_shardable(*this, weight_, "keep_columns");
  const int64_t in = weight_.size(1), out = weight_.size(0);
  if (lo < 0 || hi > in || lo >= hi) throw ValueError("keep_columns: columns [" + std::to_string(lo) + ", " + std::to_string(hi) + ") of " + std::to_string(in));
  Tensor w = Tensor::empty({out, hi - lo});
  const Tensor wc = weight_.contiguous();
  for (int64_t r = 0; r < out; ++r) std::copy(wc.data<float>() + r * in + lo, wc.data<float>() + r * in + hi, w.data<float>() + r * (hi - lo));
  replace(w, bias_);
  add_bias_ = add_bias;
}

void Linear::replace(const Tensor& weight, const Tensor& bias) {
  if (bias.defined() != bias_.defined()) throw ValueError("Linear::replace: the layer " + std::string(bias_.defined() ? "has" : "has no") + " bias");
  weight_ = replace_parameter("weight", weight);
  if (bias_.defined()) bias_ = replace_parameter("bias", bias);
}

Embedding::Embedding(int64_t num_embeddings, int64_t dim, Rng& rng, float init_std) {
  weight_ = register_parameter("weight", init_weight({num_embeddings, dim}, rng, init_std));
}

Tensor Embedding::forward(const Tensor& ids) const { return ops::embedding(weight_, ids); }

}  // namespace cornerstone::nn

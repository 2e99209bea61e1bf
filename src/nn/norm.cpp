#include "cornerstone/nn/norm.h"

#include "cornerstone/ops/norm.h"

namespace cornerstone::nn {

Norm::Norm(NormKind kind, int64_t dim, float eps, bool bias) : kind_(kind), eps_(eps) {
  weight_ = register_parameter("weight", Tensor::full({dim}, 1.0f));
  if (kind == NormKind::LayerNorm && bias) bias_ = register_parameter("bias", Tensor::zeros({dim}));
}

Tensor Norm::forward(const Tensor& x) const {
  return kind_ == NormKind::LayerNorm ? ops::layer_norm(x, weight_, bias_, eps_) : ops::rms_norm(x, weight_, eps_);
}

}  // namespace cornerstone::nn

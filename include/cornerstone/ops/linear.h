// Matrix products, differentiable.
#pragma once

#include "cornerstone/core/tensor.h"

namespace cornerstone::ops {

// a (..., M, K) @ b (K, N) -> (..., M, N); leading dimensions of a are flattened into rows.
// Also a (M, K) @ b (K, N). Both f32.
Tensor matmul(const Tensor& a, const Tensor& b);

// y (..., out) = x (..., in) @ weight (out, in)^T + bias (out). PyTorch's nn.Linear layout.
// bias may be undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace cornerstone::ops

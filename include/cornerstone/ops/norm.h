// Normalisation over the last dimension, differentiable.
#pragma once

#include "cornerstone/core/tensor.h"

namespace cornerstone::ops {

// x (..., C); weight, bias (C) or undefined.
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps = 1e-5f);
// x (..., C); weight (C) or undefined.
Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps = 1e-6f);

}  // namespace cornerstone::ops

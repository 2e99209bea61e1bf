// Elementwise arithmetic and reductions, differentiable. Shapes must match exactly (no implicit
// broadcasting: a transformer needs none, and explicit shapes catch bugs).
#pragma once

#include "cornerstone/core/tensor.h"

namespace cornerstone::ops {

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, float s);
// Scalar results (shape (1,)).
Tensor sum(const Tensor& x);
Tensor mean(const Tensor& x);

}  // namespace cornerstone::ops

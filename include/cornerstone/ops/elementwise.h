// Elementwise arithmetic and reductions, differentiable. Shapes must match exactly (no implicit
// broadcasting: a transformer needs none, and explicit shapes catch bugs).
#pragma once

#include "cornerstone/core/tensor.h"

namespace cornerstone::ops {

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, float s);
// x * exp(min(log_scale, max_log)) with log_scale a (1,) tensor, differentiable in both (CLIP's
// learned temperature: logits = exp(t) * cosine similarities). Where the clamp holds, t gets no
// gradient, as after CLIP's clamp of t to log(100).
Tensor scale_by_exp(const Tensor& x, const Tensor& log_scale, float max_log);
// Scalar results (shape (1,)).
Tensor sum(const Tensor& x);
Tensor mean(const Tensor& x);

}  // namespace cornerstone::ops

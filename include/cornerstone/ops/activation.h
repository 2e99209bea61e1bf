// Activations, differentiable.
#pragma once

#include "cornerstone/core/tensor.h"
#include "cornerstone/kernels/activation.h"

namespace cornerstone::ops {

using kernels::GeluKind;

Tensor gelu(const Tensor& x, GeluKind kind = GeluKind::Tanh);
Tensor silu(const Tensor& x);
Tensor tanh(const Tensor& x);
// log sigmoid(x), elementwise and stable (preference losses: -log sigmoid(margin)).
Tensor log_sigmoid(const Tensor& x);
// max(x, 0)
Tensor relu(const Tensor& x);
// gate_up (..., 2F) whose last dimension is [gate | up] -> (..., F) = silu(gate) * up.
Tensor swiglu(const Tensor& gate_up);
// Softmax over the last dimension.
Tensor softmax(const Tensor& x);

}  // namespace cornerstone::ops

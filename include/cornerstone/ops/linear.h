// Matrix products, differentiable.
#pragma once

#include "cornerstone/core/tensor.h"
#include "cornerstone/kernels/activation.h"

namespace cornerstone::ops {

// a (..., M, K) @ b (K, N) -> (..., M, N); leading dimensions of a are flattened into rows.
// Also a (M, K) @ b (K, N). Both f32.
Tensor matmul(const Tensor& a, const Tensor& b);

// y (..., out) = x (..., in) @ weight (out, in)^T + bias (out). PyTorch's nn.Linear layout.
// bias may be undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// gelu(linear(x, weight, bias)) as one op: the same values, with the GELU backward and the bias
// gradient fused into one pass over the (..., out) gradient (the MLP's first layer).
Tensor linear_gelu(const Tensor& x, const Tensor& weight, const Tensor& bias, kernels::GeluKind kind);

// linear() with a frozen weight stored as f32 or bf16: differentiable with respect to x only (the
// frozen base of LoRA). A bf16 weight multiplies bf16-rounded inputs with fp32 accumulation.
Tensor linear_frozen(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// out = y with d added into the columns [start, start + d.size(-1)) of its last dimension:
// y (..., M), d (..., m). Differentiable in both (a LoRA adapter on a slice of a fused projection).
Tensor add_columns(const Tensor& y, const Tensor& d, int64_t start);

}  // namespace cornerstone::ops

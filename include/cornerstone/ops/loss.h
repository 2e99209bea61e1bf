// Language-modelling losses, differentiable. Targets are i32; a negative target marks a row to
// ignore (padding, prompt tokens). The result is the mean loss over the rows not ignored (0 when
// every row is ignored), as a (1,) tensor.
#pragma once

#include "cornerstone/core/tensor.h"

namespace cornerstone::ops {

// logits (N, V), targets (N).
Tensor cross_entropy(const Tensor& logits, const Tensor& targets);

// logits (N, V), targets (N) -> each row's loss -log softmax(logits)[target], (N); 0 at ignored
// rows, whose gradient is 0 too. What per-token objectives weigh row by row (PPO's log-ratios).
Tensor token_cross_entropy(const Tensor& logits, const Tensor& targets);

// The LM head fused with the loss: logits = hidden (..., C) @ weight (V, C)^T (+ bias (V)) are never
// materialised (kernels/cross_entropy.h). targets has hidden's leading shape.
Tensor lm_head_cross_entropy(const Tensor& hidden, const Tensor& weight, const Tensor& bias, const Tensor& targets);

}  // namespace cornerstone::ops

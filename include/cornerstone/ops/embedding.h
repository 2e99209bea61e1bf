// Embedding lookup, differentiable with respect to the table.
#pragma once

#include "cornerstone/core/tensor.h"

namespace cornerstone::ops {

// table (V, C), ids (...) i32 in [0, V) -> (..., C). An id out of range throws ValueError naming it.
Tensor embedding(const Tensor& table, const Tensor& ids);

// x (B, T, C) + positions (P, C)[start_pos : start_pos + T], broadcast over the batch: GPT-2's
// learned position embeddings. Differentiable in both.
Tensor add_positions(const Tensor& x, const Tensor& positions, int64_t start_pos = 0);

// A learned token in front of every sequence: x (B, N, C), token (C) -> (B, N + 1, C) with row 0 the
// token (ViT's [CLS]). Differentiable in both.
Tensor prepend_token(const Tensor& x, const Tensor& token);

}  // namespace cornerstone::ops

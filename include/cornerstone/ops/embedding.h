// Embedding lookup, differentiable with respect to the table.
#pragma once

#include "cornerstone/core/tensor.h"

namespace cornerstone::ops {

// table (V, C), ids (...) i32 in [0, V) -> (..., C). An id out of range throws ValueError naming it.
Tensor embedding(const Tensor& table, const Tensor& ids);

}  // namespace cornerstone::ops

// Row softmax over the last dimension of an (N, C) row-major matrix.
#pragma once

#include <cstdint>

namespace cornerstone::kernels {

void softmax_forward(const float* x, int64_t N, int64_t C, float* y);
// dx = y * (dy - sum(dy * y)), overwritten or accumulated.
void softmax_backward(const float* y, const float* dy, int64_t N, int64_t C, float* dx, bool accumulate);

}  // namespace cornerstone::kernels

// Embedding lookup and its gradient.
#pragma once

#include <cstdint>

namespace cornerstone::kernels {

// out (N, C) = table (V, C) [ids[i]]; ids are in range (the calling op checks).
void embedding_forward(const float* table, const int32_t* ids, int64_t N, int64_t C, float* out);
// dtable[ids[i]] += dout[i]. Deterministic: the result does not depend on the thread count.
void embedding_backward(const float* dout, const int32_t* ids, int64_t N, int64_t C, float* dtable);

}  // namespace cornerstone::kernels

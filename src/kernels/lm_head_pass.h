// Internal: the passes of the fused LM head between its GEMMs (defined per ISA in cpu/lm_head.inc),
// used by lm_head_cross_entropy.cpp. A chunk of logits is held transposed, lt (V, R): column r holds
// the V logits of the chunk's token r.
#pragma once

#include <cstdint>

namespace cornerstone::kernels::internal {

inline constexpr int64_t kLmHeadMaxRows = 256;  // R <= this

// For each column r of lt (V, R), R <= kLmHeadMaxRows, whose targets are all >= 0:
// losses[r] = logsumexp_v(lt[v, r] + bias[v]) - (lt[t_r, r] + bias[t_r]) (bias may be null), and
// with want_grad lt is overwritten by the gradient grad_scale * (softmax - onehot(t_r)) per column.
void lm_head_softmax_columns(float* lt, const float* bias, const int32_t* targets, int64_t R, int64_t V,
                             float grad_scale, bool want_grad, float* losses);

// db[v] += sum_r g[v, r] over g (V, R), in order: the result does not depend on the thread count.
void lm_head_bias_grad(const float* g, int64_t V, int64_t R, float* db);

}  // namespace cornerstone::kernels::internal

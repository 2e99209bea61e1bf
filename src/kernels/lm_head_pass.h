// Internal: the passes of the fused LM head between its GEMMs (defined per ISA in cpu/lm_head.inc),
// used by lm_head_cross_entropy.cpp. A chunk of logits is held transposed, lt (V, R): column r holds
// the V logits of the chunk's token r. The passes see one block of rows (vocabulary entries) at a
// time: lt, bias, g and db point at the block's first row.
#pragma once

#include <cstdint>

#include "cornerstone/core/dtype.h"

namespace cornerstone::kernels::internal {

inline constexpr int64_t kLmHeadMaxRows = 512;  // R <= this

// Online softmax statistics of the columns of lt (rows, R) (+ bias per row, may be null): on
// entry m, s (R) describe the rows before this block (m = -inf, s = 0 before the first); on exit
// they include it: s_r * exp(m_r) = sum of exp(l[v, r]) over all rows so far.
void lm_head_block_stats(const float* lt, const float* bias, int64_t rows, int64_t R, float* m, float* s);

// The gradient of the logits of the block (rows, R) whose first row is vocabulary entry v0:
// g[v, r] = grad_scale * (exp(l[v, r] + bias[v] - lse[r]) - [v0 + v == targets[r]]), written to g
// (fp32, may alias lt) or, when g16 is not null, to g16 (bf16) instead; db[v] += sum_r g[v, r] in
// fp32 when db is not null. by_target lists the columns 0..R-1 sorted by
// their target.
void lm_head_block_grad(const float* lt, const float* bias, int64_t v0, int64_t rows, int64_t R, const float* lse,
                        const int32_t* by_target, const int32_t* targets, float grad_scale,
                        float* g, bf16* g16, float* db);

}  // namespace cornerstone::kernels::internal

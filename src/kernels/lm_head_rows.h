// Internal: the row pass of the fused LM head (defined per ISA in cpu/cross_entropy.inc, dispatched in
// cross_entropy.cpp), used by lm_head_cross_entropy.cpp between its GEMMs.
#pragma once

#include <cstdint>

namespace cornerstone::kernels::internal {

// For each row r of a logits chunk (R, V) whose targets are all >= 0: logits += bias (if not null),
// losses[r] = logsumexp(row) - row[target_r], and with want_grad the row is overwritten by its
// gradient grad_scale * (softmax(row) - onehot(target_r)).
void lm_head_rows(float* logits, const float* bias, const int32_t* targets, int64_t R, int64_t V, float grad_scale,
                  bool want_grad, float* losses);

}  // namespace cornerstone::kernels::internal

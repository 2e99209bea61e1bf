// Softmax cross-entropy, and the language-model head fused with it.
//
// Rows whose target is negative are ignored: their loss is 0 and they receive no gradient
// (PyTorch's ignore_index, used for padding and for prompt tokens in instruction tuning).
// Targets must lie in [0, V) otherwise (the calling op checks).
#pragma once

#include <cstdint>

#include "cornerstone/core/dtype.h"

namespace cornerstone::kernels {

// losses (N) = logsumexp(logits_i) - logits_i[target_i]; lse (N) saved for the backward pass (null:
// not saved); lse is written for ignored rows too.
void cross_entropy_forward(const float* logits, const int32_t* targets, int64_t N, int64_t V, float* losses,
                           float* lse);
// dlogits (N, V) = dloss_i * (softmax(logits_i) - onehot(target_i)), overwritten or accumulated.
void cross_entropy_backward(const float* logits, const float* lse, const int32_t* targets, const float* dloss,
                            int64_t N, int64_t V, float* dlogits, bool accumulate);

// Fused LM head + cross-entropy. logits = h W^T (+ b) are formed a chunk of rows at a time
// (256 rows when that is at most 32 MiB, else 128: 25 MB for GPT-2) and consumed
// immediately, so no (N, V) tensor ever exists. Ignored rows are left out of the GEMMs.
//   losses (N)   per-row loss (0 for ignored rows), always written
//   dh (N, C)    = grad_scale * d(sum_i losses_i)/dh, overwritten; skipped when null
//   dw (V, C)   += grad_scale * d(sum_i losses_i)/dW; skipped when null
//   db (V)      += grad_scale * d(sum_i losses_i)/db; skipped when null (b may be null)
// Gradients are produced in the same pass as the loss (the softmax is at hand then); the autograd
// op saves them and scales by the upstream gradient in backward.
void lm_head_cross_entropy(const float* h, const float* w, const float* b, const int32_t* targets, int64_t N,
                           int64_t C, int64_t V, float grad_scale, float* losses, float* dh, float* dw, float* db);

// The same with bf16 h and W (mixed precision): bf16 GEMM operands (the logits' gradient is
// rounded to bf16 for the backward GEMMs), fp32 accumulation, fp32 softmax, loss and gradients.
void lm_head_cross_entropy_bf16(const bf16* h, const bf16* w, const float* b, const int32_t* targets, int64_t N,
                                int64_t C, int64_t V, float grad_scale, float* losses, float* dh, float* dw, float* db);

}  // namespace cornerstone::kernels

// Normalisations over the last dimension of an (N, C) row-major matrix.
//
// Gradient conventions shared by all backward kernels in this layer:
//   - activation gradients (dx) are overwritten, or added into when `accumulate` is true (an input
//     that feeds several consumers, e.g. the residual stream, sums its gradients);
//   - parameter gradients (dw, db) are always added into (+=), so they accumulate across uses and
//     across micro-batches until the optimizer zeroes them; pass null to skip one.
#pragma once

#include <cstdint>

namespace cornerstone::kernels {

// y = (x - mean) * rstd * w + b, rstd = 1 / sqrt(var + eps), biased variance (as PyTorch).
// Saves mean (N) and rstd (N) for the backward pass (null: not saved, for inference). w and b may be
// null (no affine part). The backward's dw / db are summed over rows in fixed 32-row blocks added in
// order, so they are bit-identical for any thread count.
void layernorm_forward(const float* x, const float* w, const float* b, int64_t N, int64_t C, float eps, float* y,
                       float* mean, float* rstd);
void layernorm_backward(const float* dy, const float* x, const float* w, const float* mean, const float* rstd,
                        int64_t N, int64_t C, float* dx, bool accumulate, float* dw, float* db);

// y = x * rstd * w, rstd = 1 / sqrt(mean(x^2) + eps). Saves rstd (N) unless null. w may be null.
void rmsnorm_forward(const float* x, const float* w, int64_t N, int64_t C, float eps, float* y, float* rstd);
void rmsnorm_backward(const float* dy, const float* x, const float* w, const float* rstd, int64_t N, int64_t C,
                      float* dx, bool accumulate, float* dw);

// Group norm over x (B, C, S) (S positions per channel) with G groups dividing C: the C / G
// channels x S positions of each (image, group) are normalised by their own mean and rstd (saved,
// B G each, unless null), then y = xhat * w[c] + b[c] per channel (w, b null: 1, 0), then, with
// `relu`, max(y, 0): the norm + activation of a pre-activation ResNet in one pass. The backward
// takes the forward's output y under relu (its mask; null otherwise); dw / db are summed per image
// and added over images in order (the same bits for any thread count).
void groupnorm_forward(const float* x, const float* w, const float* b, int64_t B, int64_t C, int64_t S, int64_t G, float eps,
                       bool relu, float* y, float* mean, float* rstd);
void groupnorm_backward(const float* dy, const float* x, const float* y, const float* w, const float* mean, const float* rstd,
                        int64_t B, int64_t C, int64_t S, int64_t G, float* dx, bool accumulate, float* dw, float* db);

}  // namespace cornerstone::kernels

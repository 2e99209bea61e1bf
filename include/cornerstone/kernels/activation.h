// Pointwise activations. Backward kernels overwrite dx, or add into it when `accumulate` is true.
// Forward outputs may alias their inputs (in place).
#pragma once

#include <cstdint>

#include "cornerstone/core/dtype.h"

namespace cornerstone::kernels {

enum class GeluKind {
  Tanh,  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))  (GPT-2 "gelu_new")
  Erf,   // 0.5 x (1 + erf(x / sqrt 2))                      (BERT "gelu")
};
// Both are computed in forms that stay relatively accurate for very negative x, where the formulas
// above cancel (Tanh as x sigmoid(2u), Erf as 0.5 x erfc(-x / sqrt 2)); elsewhere they agree with
// PyTorch to fp32 rounding.

void gelu_forward(GeluKind kind, const float* x, int64_t n, float* y);
void gelu_backward(GeluKind kind, const float* x, const float* dy, int64_t n, float* dx, bool accumulate);
// The backward of y = gelu(h) fused with the bias gradient of the linear layer that produced h, so
// that dh streams through memory once:
//   dh = gelu'(h) dy over (N, F), written as fp32 to dh, or, when dh_bf16 is non-null, rounded to
//        bf16 there instead (dh is then not written: under mixed precision dh only feeds bf16 GEMMs)
//   db += the column sums of dh (of the fp32 values), when db is non-null; independent of the thread
//        count (fixed row blocks, added in order)
void gelu_backward_bias(GeluKind kind, const float* h, const float* dy, int64_t N, int64_t F, float* dh, bf16* dh_bf16,
                        float* db);

// silu(x) = x * sigmoid(x)
void silu_forward(const float* x, int64_t n, float* y);
void silu_backward(const float* x, const float* dy, int64_t n, float* dx, bool accumulate);

// log sigmoid(x) = min(x, 0) - log1p(exp(-|x|)), stable for any x; dx = dy sigmoid(-x). Scalar
// code (no ISA variants): preference losses apply it to a few values per batch, not on a hot path.
void log_sigmoid_forward(const float* x, int64_t n, float* y);
void log_sigmoid_backward(const float* x, const float* dy, int64_t n, float* dx, bool accumulate);
// relu(x) = max(x, 0); the backward takes the forward's output: dx = dy where y > 0 (ResNets).
void relu_forward(const float* x, int64_t n, float* y);
void relu_backward(const float* y, const float* dy, int64_t n, float* dx, bool accumulate);

// tanh(x); the backward takes the forward's output: dx = dy (1 - y^2). (BERT's pooler.)
void tanh_forward(const float* x, int64_t n, float* y);
void tanh_backward(const float* y, const float* dy, int64_t n, float* dx, bool accumulate);

// SwiGLU on a fused (N, 2F) projection whose rows are [gate (F) | up (F)]:
//   y (N, F) = silu(gate) * up
void swiglu_forward(const float* gate_up, int64_t N, int64_t F, float* y);
// dgate_up (N, 2F) from dy (N, F).
void swiglu_backward(const float* gate_up, const float* dy, int64_t N, int64_t F, float* dgate_up,
                     bool accumulate);

}  // namespace cornerstone::kernels

// Optimizer and gradient-norm kernels.
#pragma once

#include <cstdint>

namespace cornerstone::kernels {

// Hyperparameters are doubles, like the Python floats PyTorch receives: 1 - beta1, the bias
// corrections and the step size are formed in double and only then rounded to fp32, as ATen does.
// (With fp32 fields, 1 - 0.9f already differs from fp32(1 - 0.9) in the last bit.)
struct AdamWHyper {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  int64_t step = 1;  // 1-based step number, for bias correction
};

// PyTorch's torch.optim.AdamW, decoupled weight decay:
//   p *= 1 - lr * wd
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// in PyTorch 1.13's order of fp32 operations and roundings (see src/kernels/cpu/optim.inc), so that
// it agrees with torch.optim.AdamW to the bit.
void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, const AdamWHyper& h);

// sum(x^2) accumulated in double over fixed 4096-element blocks summed in order: the same result
// for any thread count (global gradient-norm clipping must be reproducible).
double sum_squares(const float* x, int64_t n);

}  // namespace cornerstone::kernels

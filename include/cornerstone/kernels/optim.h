// Optimizer and gradient-norm kernels.
#pragma once

#include <cstdint>

namespace cornerstone::kernels {

struct AdamWHyper {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  int64_t step = 1;  // 1-based step number, for bias correction
};

// PyTorch's torch.optim.AdamW, decoupled weight decay:
//   p *= 1 - lr * wd
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, const AdamWHyper& h);

// sum(x^2) accumulated in double over fixed 4096-element blocks summed in order: the same result
// for any thread count (global gradient-norm clipping must be reproducible).
double sum_squares(const float* x, int64_t n);

}  // namespace cornerstone::kernels

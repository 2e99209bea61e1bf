// AdamW over a model's named parameters, and global gradient-norm clipping.
//
// Weight decay applies to matrices (embeddings, linear weights) and not to vectors (biases, norm
// gains), the usual GPT recipe. Moments are fp32 tensors named after their parameter
// ("<name>.exp_avg", "<name>.exp_avg_sq") so that checkpoints can save and restore them.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cornerstone/core/tensor.h"

namespace cornerstone::train {

struct AdamWConfig {
  float lr = 6e-4f;
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.1f;
};

class AdamW {
 public:
  AdamW(std::vector<std::pair<std::string, Tensor>> params, const AdamWConfig& config);

  // One update of every parameter that has a gradient, at learning rate `lr`.
  void step(float lr);
  void zero_grad();
  int64_t steps() const { return step_; }
  const AdamWConfig& config() const { return config_; }

  // Optimizer state for checkpoints: the moments by name, and the step count.
  std::vector<std::pair<std::string, Tensor>> state() const;
  void load_state(const std::vector<std::pair<std::string, Tensor>>& state, int64_t step);

 private:
  struct Slot {
    std::string name;
    Tensor param, exp_avg, exp_avg_sq;
    bool decay;
  };
  std::vector<Slot> slots_;
  AdamWConfig config_;
  int64_t step_ = 0;
};

// Scales all gradients so that their global L2 norm is at most max_norm; returns the norm before
// clipping. Deterministic for a given thread count (kernels::sum_squares).
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);

}  // namespace cornerstone::train

// Parameters held as shares of whole tensors (tensor parallelism, train/tensor_parallel.h): what
// the training engine asks of them.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "cornerstone/core/tensor.h"

namespace cornerstone::train {

// Parameters held as shares of whole tensors (tensor parallelism, train/tensor_parallel.h):
// checkpoints hold the whole tensors, so that any number of processes, and every other command,
// reads them.
class ParameterShards {
 public:
  virtual ~ParameterShards() = default;
  // Collective: the whole tensors of named shares: parameters, or their AdamW moments
  // ("<parameter>.exp_avg", "<parameter>.exp_avg_sq"); other names pass through.
  virtual std::vector<std::pair<std::string, Tensor>> gather(const std::vector<std::pair<std::string, Tensor>>& shares) = 0;
  // This process's shares of named whole tensors (a checkpoint's moments).
  virtual std::vector<std::pair<std::string, Tensor>> share(const std::vector<std::pair<std::string, Tensor>>& whole) const = 0;
  // Collective: the model's layers hold whole weights (to be written) while `on`, their shares again after.
  virtual void whole_weights(bool on) = 0;
  // Collective: the squared L2 norm of the whole model's gradient, from this process's
  // parameters (the whole ones counted once, the shares summed over the processes).
  virtual double squared_grad_norm(const std::vector<Tensor>& params) = 0;
};

}  // namespace cornerstone::train

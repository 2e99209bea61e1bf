// Parameters held as shares of whole tensors (tensor parallelism, train/tensor_parallel.h): what
// the training engine asks of them.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "cornerstone/core/tensor.h"
#include "cornerstone/io/safetensors.h"

namespace cornerstone::train {

// Parameters held as shares of whole tensors (tensor parallelism, train/tensor_parallel.h):
// checkpoints hold the whole tensors, so that any number of processes, and every other command,
// reads them.
class ParameterShards {
 public:
  virtual ~ParameterShards() = default;
  // The whole tensors' layout of named shares: parameters, or their AdamW moments
  // ("<parameter>.exp_avg", "<parameter>.exp_avg_sq"); other names keep their shapes.
  virtual std::vector<io::TensorLayout> whole_layout(const std::vector<std::pair<std::string, Tensor>>& shares) const = 0;
  // Collective: the whole tensor of one named share on the writer (process 0), an undefined tensor
  // on every other process. Called for the same names in the same order on every process.
  virtual Tensor gather_for_writer(const std::string& name, const Tensor& share) = 0;
  // This process's shares of named whole tensors (a checkpoint's moments).
  virtual std::vector<std::pair<std::string, Tensor>> share(const std::vector<std::pair<std::string, Tensor>>& whole) const = 0;
  // Collective: the writer's layers hold whole weights (to be written) while `on`, their shares
  // again after; the other processes keep their shares throughout.
  virtual void whole_weights(bool on) = 0;
  // Collective: the squared L2 norm of the whole model's gradient, from this process's
  // parameters (the whole ones counted once, the shares summed over the processes).
  virtual double squared_grad_norm(const std::vector<Tensor>& params) = 0;
};

}  // namespace cornerstone::train

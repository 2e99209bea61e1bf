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
#include "cornerstone/io/safetensors.h"
#include "cornerstone/train/data_parallel.h"
#include "cornerstone/train/parameter_shards.h"

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

  // One update of every parameter that has a gradient, at learning rate `lr`. With a shard
  // (ZeRO-2), the gradients of this process's range come from it instead of the parameters' .grad.
  void step(float lr, const GradientShard* shard = nullptr);
  void zero_grad();
  int64_t steps() const { return step_; }
  const AdamWConfig& config() const { return config_; }

  // Optimizer state for checkpoints: the full moments by name. Partitioned, it gathers the
  // moments on process 0 (the writer) from every process: every process must call it (a
  // collective), and the others get an empty list.
  std::vector<std::pair<std::string, Tensor>> state() const;
  // The same one tensor at a time, for writing a checkpoint without holding every moment twice:
  // the names, dtypes and shapes, then moment i (partitioned: a collective gathering it on
  // process 0, every process calling it for every i in order; the others get an undefined tensor).
  std::vector<io::TensorLayout> state_layout() const;
  Tensor state_tensor(size_t i) const;
  // From full moments (a checkpoint's); partitioned, each process keeps its part.
  void load_state(const std::vector<std::pair<std::string, Tensor>>& state, int64_t step);

  // ZeRO stage 1 (Rajbhandari et al. 2020) over dist::ProcessGroup::world(): the parameters laid
  // end to end are split into `world` equal ranges; this process holds the moments of range
  // `rank` alone and updates only those elements; gather_parameters() then gives every process
  // every updated element. Call before load_state. The gradients stay whole (all-reduced), or
  // come partitioned the same way (ZeRO-2, step's shard).
  void partition(int64_t rank, int64_t world);
  bool partitioned() const { return world_ > 1; }
  void gather_parameters();
  // Elements of the parameters, and of the moments this process holds (both moments).
  int64_t num_elements() const { return total_; }
  int64_t state_elements() const;

 private:
  struct Slot {
    std::string name;
    Tensor param, exp_avg, exp_avg_sq;  // partitioned: the moments of [lo, hi) only (1-D)
    bool decay;
    int64_t offset = 0;         // the parameter's first element, parameters laid end to end
    int64_t lo = 0, hi = 0;     // the elements of this parameter this process updates
  };
  std::vector<Slot> slots_;
  int64_t total_ = 0;
  int64_t world_ = 1, begin_ = 0, end_ = 0;  // this process's range of the flat elements
  std::vector<float> flat_;                    // gather_parameters' buffer (one chunk), kept between steps
  AdamWConfig config_;
  int64_t step_ = 0;
};

// Scales all gradients so that their global L2 norm is at most max_norm; returns the norm before
// clipping. Deterministic for a given thread count (kernels::sum_squares). With shards (tensor
// parallel), the norm is the whole model's (a collective).
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm, ParameterShards* shards = nullptr);

}  // namespace cornerstone::train

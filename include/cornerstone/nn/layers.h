// Basic layers: Linear, Embedding (norms: nn/norm.h).
//
// Initialisation follows GPT-2 / BERT practice unless the caller overrides it: weights
// N(0, init_std^2), biases zero, norm gains one. init_std == 0 gives zero weights without drawing
// random numbers (for models whose weights are loaded next).
#pragma once

#include <cstdint>

#include <memory>
#include <utility>
#include <vector>

#include "cornerstone/core/rng.h"
#include "cornerstone/kernels/activation.h"
#include "cornerstone/nn/module.h"

namespace cornerstone::nn {

// Something added to a Linear layer's output, computed from its input: a LoRA adapter
// (adapt/lora.h) is one. Registered as the layer's child module "adapter".
class LinearAdapter : public Module {
 public:
  // x (..., in), y = the layer's own output (..., out) -> the adapted output.
  virtual Tensor apply(const Tensor& x, const Tensor& y) const = 0;
};

// y = x W^T + b (+ adapter(x)); weight (out, in) as in PyTorch.
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias, Rng& rng, float init_std = 0.02f);
  Tensor forward(const Tensor& x) const;
  // gelu(forward(x)); for a trainable fp32 weight without an adapter, one op whose backward fuses
  // the GELU derivative with the bias gradient (ops::linear_gelu).
  Tensor forward_gelu(const Tensor& x, kernels::GeluKind kind) const;
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }  // undefined without bias
  int64_t in_features() const { return (weight_.defined() ? weight_ : frozen_weight_).size(1); }
  int64_t out_features() const { return (weight_.defined() ? weight_ : frozen_weight_).size(0); }

  // Attaches (or with null, detaches) an adapter whose output is added in forward().
  void set_adapter(std::shared_ptr<LinearAdapter> adapter);
  const std::shared_ptr<LinearAdapter>& adapter() const { return adapter_; }

  // Freezes the weight (and bias) and keeps the weight in `storage` (F32, BF16 or Q8_0) for the
  // forward pass: the frozen base of LoRA fine-tuning, at 1/2 (bf16) or ~1/4 (q8_0) of the memory.
  // Gradients still flow to the input. For BF16 / Q8_0 the fp32 parameter is dropped (weight()
  // becomes undefined).
  void freeze(DType storage = DType::F32);
  bool frozen() const { return frozen_; }

  // Tensor parallelism (nn/tensor_parallel.h). keep_rows: the layer keeps only these row ranges of
  // its weight and bias, end to end (a column-parallel layer: its share of the outputs).
  // keep_columns: only weight columns [lo, hi) (a row-parallel layer: its share of the inputs,
  // whose partial outputs are summed over the processes); the bias stays, added by forward() only
  // when add_bias (one process adds it). Trainable fp32 layers without an adapter only.
  void keep_rows(const std::vector<std::pair<int64_t, int64_t>>& ranges);
  void keep_columns(int64_t lo, int64_t hi, bool add_bias);
  // Swaps other tensors in for the weight and bias (the whole ones, to write a checkpoint; then
  // the shares again), in the same places of the parameter order.
  void replace(const Tensor& weight, const Tensor& bias);

 private:
  Tensor weight_, bias_;
  bool add_bias_ = true;  // false: a row-parallel share whose bias another process adds
  Tensor frozen_weight_;  // bf16 / q8_0 copy used by forward() once frozen in reduced precision
  bool frozen_ = false;
  std::shared_ptr<LinearAdapter> adapter_;
};

// table (V, C); forward(ids (...)) -> (..., C).
class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t dim, Rng& rng, float init_std = 0.02f);
  Tensor forward(const Tensor& ids) const;
  const Tensor& weight() const { return weight_; }

 private:
  Tensor weight_;
};

}  // namespace cornerstone::nn

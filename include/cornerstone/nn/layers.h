// Basic layers: Linear, Embedding, LayerNorm, RMSNorm.
//
// Initialisation follows GPT-2 / BERT practice unless the caller overrides it: weights
// N(0, init_std^2), biases zero, norm gains one. init_std == 0 gives zero weights without drawing
// random numbers (for models whose weights are loaded next).
#pragma once

#include <cstdint>

#include "cornerstone/core/rng.h"
#include "cornerstone/nn/module.h"

namespace cornerstone::nn {

// y = x W^T + b; weight (out, in) as in PyTorch.
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias, Rng& rng, float init_std = 0.02f);
  Tensor forward(const Tensor& x) const;
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }  // undefined without bias
  int64_t in_features() const { return weight_.size(1); }
  int64_t out_features() const { return weight_.size(0); }

 private:
  Tensor weight_, bias_;
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

class LayerNorm : public Module {
 public:
  LayerNorm(int64_t dim, float eps = 1e-5f, bool bias = true);
  Tensor forward(const Tensor& x) const;

 private:
  Tensor weight_, bias_;
  float eps_;
};

class RMSNorm : public Module {
 public:
  RMSNorm(int64_t dim, float eps = 1e-6f);
  Tensor forward(const Tensor& x) const;

 private:
  Tensor weight_;
  float eps_;
};

}  // namespace cornerstone::nn

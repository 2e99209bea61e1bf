// A norm layer chosen by kind: LayerNorm (parameters `weight`, and `bias` unless bias-free) or
// RMSNorm (`weight` only). x (..., C) -> (..., C).
#pragma once

#include <cstdint>

#include "cornerstone/nn/block_config.h"
#include "cornerstone/nn/module.h"

namespace cornerstone::nn {

class Norm : public Module {
 public:
  Norm(NormKind kind, int64_t dim, float eps, bool bias);
  Tensor forward(const Tensor& x) const;

  NormKind kind() const { return kind_; }
  float eps() const { return eps_; }
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }  // undefined for RMSNorm and bias-free LayerNorm

 private:
  NormKind kind_;
  Tensor weight_, bias_;
  float eps_;
};

}  // namespace cornerstone::nn

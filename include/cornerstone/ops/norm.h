// Normalisations, differentiable: over the last dimension (layer norm, RMS norm) and over the
// channels of images (group norm, batch norm).
#pragma once

#include "cornerstone/core/tensor.h"

namespace cornerstone::ops {

// x (..., C); weight, bias (C) or undefined.
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps = 1e-5f);
// x (..., C); weight (C) or undefined.
Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps = 1e-6f);
// x (..., C) / ||x|| over the last dimension (unit vectors: cosine similarity by dot product).
Tensor l2_normalize(const Tensor& x);

// Images (B, C, ...): y = x * weight[c] + bias[c] per channel (weight, bias (C) or undefined).
Tensor channel_affine(const Tensor& x, const Tensor& weight, const Tensor& bias);

// Group norm (Wu & He 2018): x (B, C, ...) normalised over each of `groups` groups of C / groups
// channels (and all positions), then the per-channel affine weight, bias (C) (PyTorch's F.group_norm).
Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, float eps = 1e-5f);
// relu(group_norm(...)) in one pass forward and backward (a pre-activation ResNet's norm + activation).
Tensor group_norm_relu(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, float eps = 1e-5f);

// Batch norm: x (B, C, ...) normalised per channel. training: by the batch's mean and biased
// variance, and running_mean / running_var (C) (undefined: not tracked) are updated in place as
// PyTorch does (momentum, unbiased variance); otherwise by running_mean / running_var.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean, Tensor running_var,
                  bool training, float momentum = 0.1f, float eps = 1e-5f);

}  // namespace cornerstone::ops

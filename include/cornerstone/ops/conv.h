// Image ops on NCHW tensors, differentiable: convolution (im2col + GEMM, kernels/conv.h), zero
// padding, pooling, patch embedding, weight standardisation.
#pragma once

#include <cstdint>

#include "cornerstone/core/tensor.h"

namespace cornerstone::ops {

// x (B, C, H, W), weight (O, C, kh, kw), bias (O) or undefined -> (B, O, Ho, Wo),
// Ho = (H + 2 padding - kh) / stride + 1 (PyTorch's F.conv2d with groups = 1, dilation = 1).
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride = 1, int64_t padding = 0);

// Zero padding: x (B, C, H, W) -> (B, C, H + top + bottom, W + left + right) (F.pad's order).
Tensor pad2d(const Tensor& x, int64_t left, int64_t right, int64_t top, int64_t bottom);

// Pooling over kernel x kernel windows (PyTorch's max_pool2d, which ignores the padding, and
// avg_pool2d with count_include_pad = true): x (B, C, H, W) -> (B, C, Ho, Wo).
Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding = 0);
Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding = 0);
// Mean over the plane: x (B, C, H, W) -> (B, C) (adaptive average pooling to 1 x 1).
Tensor global_avg_pool(const Tensor& x);

// Patch embedding: x (B, C, H, W) cut into p x p patches, each projected by weight (D, C, p, p) and
// bias (D): a convolution with stride p, flattened to (B, N = (H / p)(W / p), D) row by row (ViT).
// H and W must be multiples of p.
Tensor patch_embedding(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t patch);

// Weight standardisation (Qiao et al. 2019, BiT): each output filter w[o] (O, ...) standardised to
// zero mean and unit variance over its fan-in, (w - mean) / sqrt(var + eps), biased variance.
Tensor weight_standardize(const Tensor& weight, float eps);

}  // namespace cornerstone::ops

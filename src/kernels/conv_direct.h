// Direct convolution through oneDNN's convolution primitives: the path conv2d_forward / _backward
// (kernels/conv.h) take for the spatial convolutions of wide layers. Same contracts as those.
#pragma once

#include <cstdint>

#include "cornerstone/kernels/conv.h"

namespace cornerstone::kernels {

// Whether a convolution runs direct (spatial kernels over >= 16 input channels) or as im2col + GEMM.
bool conv2d_direct_applies(const Conv2dGeometry& g);

void conv2d_direct_forward(const float* x, const float* w, const float* b, int64_t B, int64_t O, const Conv2dGeometry& g,
                           float* y);
void conv2d_direct_backward(const float* dy, const float* x, const float* w, int64_t B, int64_t O, const Conv2dGeometry& g,
                            float* dx, bool accumulate, float* dw, float* db);

}  // namespace cornerstone::kernels

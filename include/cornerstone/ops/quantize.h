// Whole-tensor conversion between f32 and the GGUF block types (kernels/quant.h): the storage
// step of exporting q8_0 / q4_0 weights and of loading them back. Not differentiable: quantized
// tensors are inference weights.
//
//   Tensor q = ops::quantize(w, DType::Q8_0);   // w (out, in) f32, in % 32 == 0 -> (out, in) q8_0
//   Tensor w2 = ops::dequantize(q);              // (out, in) f32
#pragma once

#include "cornerstone/core/tensor.h"

namespace cornerstone::ops {

// x (..., K) f32 with K a multiple of 32 -> the same logical shape in `type` (Q8_0 or Q4_0),
// blocks running along the last dimension. Throws ShapeError when K is not a multiple of 32 and
// DTypeError for another target type.
Tensor quantize(const Tensor& x, DType type);

// Any float tensor (f32, bf16, f16, q8_0, q4_0) -> contiguous f32 with the same shape (x itself
// when it already is contiguous f32).
Tensor dequantize(const Tensor& x);

}  // namespace cornerstone::ops

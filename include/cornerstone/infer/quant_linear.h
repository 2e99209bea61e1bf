// One linear layer (or embedding table) of an inference model: its weight packed once in a weight
// format (f32, bf16, q8_0, q4_0; kernels/packed_matmul.h) and an optional f32 bias.
//
//   QuantLinear fc = QuantLinear::from_float(WeightFormat::Q4_0, w, /*out=*/3072, /*in=*/768, 768, 1, bias);
//   fc.forward(x, /*rows=*/m, /*ldx=*/768, y, /*ldy=*/3072);        // y (m, 3072) = x W^T + b
//   fc.row(id, emb);                                                 // an embedding lookup (tied tables)
//
// Copies share the packed bytes (they are immutable once built).
#pragma once

#include <cstdint>

#include "cornerstone/core/tensor.h"
#include "cornerstone/kernels/packed_matmul.h"
#include "cornerstone/kernels/quant.h"

namespace cornerstone::infer {

using kernels::WeightFormat;

class QuantLinear {
 public:
  QuantLinear() = default;

  // From floats: element (r, c) of W (out, in) at w[r * row_stride + c * col_stride]. q8_0 / q4_0
  // quantize per 32-block as ggml does (in % 32 == 0, else ShapeError). bias (out) may be null.
  static QuantLinear from_float(WeightFormat format, const float* w, int64_t out, int64_t in, int64_t row_stride,
                                int64_t col_stride, const float* bias);
  // From GGUF blocks, out rows of in / 32 blocks each.
  static QuantLinear from_blocks(const kernels::BlockQ8_0* w, int64_t out, int64_t in, const float* bias);
  static QuantLinear from_blocks(const kernels::BlockQ4_0* w, int64_t out, int64_t in, const float* bias);

  bool defined() const { return packed_.defined(); }
  WeightFormat format() const { return format_; }
  int64_t out_features() const { return out_; }
  int64_t in_features() const { return in_; }
  const Tensor& bias() const { return bias_; }  // (out) f32, or undefined
  // Bytes of the weights in their format (what one pass over them reads), without packing padding.
  size_t weight_bytes() const;
  kernels::PackedView view() const { return {format_, out_, in_, packed_.raw_data()}; }

  // y (rows, out) = x (rows, in) W^T + bias; rows of x / y are ldx / ldy floats apart.
  void forward(const float* x, int64_t rows, int64_t ldx, float* y, int64_t ldy) const;
  // Row r of W, dequantized (in floats).
  void row(int64_t r, float* out) const;

 private:
  QuantLinear(WeightFormat format, int64_t out, int64_t in, const float* bias);
  WeightFormat format_ = WeightFormat::F32;
  int64_t out_ = 0, in_ = 0;
  Tensor packed_;  // u8, kernels::packed_bytes(format, out, in)
  Tensor bias_;
};

}  // namespace cornerstone::infer

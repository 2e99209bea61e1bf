#include "cornerstone/infer/quant_linear.h"

#include <cstring>
#include <string>
#include <vector>

#include "cornerstone/core/error.h"

namespace cornerstone::infer {

QuantLinear::QuantLinear(WeightFormat format, int64_t out, int64_t in, const float* bias)
    : format_(format), out_(out), in_(in) {
  packed_ = Tensor::empty({static_cast<int64_t>(kernels::packed_bytes(format, out, in))}, DType::U8);
  if (bias) {
    bias_ = Tensor::empty({out});
    std::memcpy(bias_.data<float>(), bias, static_cast<size_t>(out) * sizeof(float));
  }
}

QuantLinear QuantLinear::from_float(WeightFormat format, const float* w, int64_t out, int64_t in, int64_t row_stride,
                                    int64_t col_stride, const float* bias) {
  QuantLinear q(format, out, in, bias);
  if (format == WeightFormat::F32 || format == WeightFormat::BF16) {
    kernels::pack_weights(format, w, out, in, row_stride, col_stride, q.packed_.raw_data());
    return q;
  }
  // Quantize row by row (contiguous copies of strided rows) into GGUF blocks, then pack.
  const int64_t kb = in / kernels::kQuantBlock;
  std::vector<kernels::BlockQ8_0> q8(format == WeightFormat::Q8_0 ? static_cast<size_t>(out * kb) : 0);
  std::vector<kernels::BlockQ4_0> q4(format == WeightFormat::Q4_0 ? static_cast<size_t>(out * kb) : 0);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < out; ++r) {
    std::vector<float> row(static_cast<size_t>(in));
    for (int64_t c = 0; c < in; ++c) row[static_cast<size_t>(c)] = w[r * row_stride + c * col_stride];
    if (format == WeightFormat::Q8_0)
      kernels::quantize_row_q8_0(row.data(), in, q8.data() + r * kb);
    else
      kernels::quantize_row_q4_0(row.data(), in, q4.data() + r * kb);
  }
  if (format == WeightFormat::Q8_0)
    kernels::pack_weights_q8_0(q8.data(), out, in, q.packed_.raw_data());
  else
    kernels::pack_weights_q4_0(q4.data(), out, in, q.packed_.raw_data());
  return q;
}

QuantLinear QuantLinear::from_blocks(const kernels::BlockQ8_0* w, int64_t out, int64_t in, const float* bias) {
  QuantLinear q(WeightFormat::Q8_0, out, in, bias);
  kernels::pack_weights_q8_0(w, out, in, q.packed_.raw_data());
  return q;
}

QuantLinear QuantLinear::from_blocks(const kernels::BlockQ4_0* w, int64_t out, int64_t in, const float* bias) {
  QuantLinear q(WeightFormat::Q4_0, out, in, bias);
  kernels::pack_weights_q4_0(w, out, in, q.packed_.raw_data());
  return q;
}

size_t QuantLinear::weight_bytes() const { return defined() ? kernels::weight_bytes(format_, out_, in_) : 0; }

void QuantLinear::forward(const float* x, int64_t rows, int64_t ldx, float* y, int64_t ldy) const {
  if (!defined()) throw ValueError("QuantLinear::forward on an empty layer");
  kernels::packed_matmul(view(), x, rows, ldx, bias_.defined() ? bias_.data<float>() : nullptr, y, ldy);
}

void QuantLinear::row(int64_t r, float* out) const {
  if (!defined()) throw ValueError("QuantLinear::row on an empty layer");
  kernels::packed_row(view(), r, out);
}

}  // namespace cornerstone::infer

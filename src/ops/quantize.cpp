#include "cornerstone/ops/quantize.h"

#include <string>

#include "cornerstone/core/error.h"
#include "cornerstone/kernels/elementwise.h"
#include "cornerstone/kernels/quant.h"

namespace cornerstone::ops {

namespace {

// Rows of the last dimension; block tensors are contiguous by construction.
int64_t row_length(const Tensor& x) { return x.ndim() == 0 ? 1 : x.size(x.ndim() - 1); }

}  // namespace

Tensor quantize(const Tensor& x, DType type) {
  check_defined(x, "quantize", "x");
  check_dtype(x, DType::F32, "quantize", "x");
  if (type != DType::Q8_0 && type != DType::Q4_0)
    throw DTypeError("quantize: target type must be q8_0 or q4_0, got " + std::string(dtype_name(type)));
  const int64_t K = row_length(x);
  if (x.ndim() == 0 || K % kernels::kQuantBlock != 0)
    throw ShapeError("quantize: rows of " + x.shape().str() + " have " + std::to_string(K) +
                     " elements, not a multiple of the block size 32");
  const Tensor xc = x.contiguous();
  Tensor out = Tensor::empty(x.shape(), type);
  const int64_t rows = x.numel() / K, row_bytes = static_cast<int64_t>(dtype_bytes(type, K));
  const float* src = xc.data<float>();
  char* dst = static_cast<char*>(out.raw_data());
#pragma omp parallel for schedule(static) if (rows * K > (1 << 16))
  for (int64_t r = 0; r < rows; ++r) {
    if (type == DType::Q8_0)
      kernels::quantize_row_q8_0(src + r * K, K, reinterpret_cast<kernels::BlockQ8_0*>(dst + r * row_bytes));
    else
      kernels::quantize_row_q4_0(src + r * K, K, reinterpret_cast<kernels::BlockQ4_0*>(dst + r * row_bytes));
  }
  return out;
}

Tensor dequantize(const Tensor& x) {
  check_defined(x, "dequantize", "x");
  if (x.dtype() != DType::Q8_0 && x.dtype() != DType::Q4_0) {
    if (!dtype_is_float(x.dtype()))
      throw DTypeError("dequantize: expected a float tensor, got " + std::string(dtype_name(x.dtype())));
    return x.dtype() == DType::F32 ? x.contiguous() : kernels::to_dtype(x.contiguous(), DType::F32);
  }
  check_contiguous(x, "dequantize", "x");
  const int64_t K = row_length(x), rows = x.numel() / K;
  const int64_t row_bytes = static_cast<int64_t>(dtype_bytes(x.dtype(), K));
  Tensor out = Tensor::empty(x.shape());
  const char* src = static_cast<const char*>(x.raw_data());
  float* dst = out.data<float>();
  const bool q8 = x.dtype() == DType::Q8_0;
#pragma omp parallel for schedule(static) if (rows * K > (1 << 16))
  for (int64_t r = 0; r < rows; ++r) {
    if (q8)
      kernels::dequantize_row_q8_0(reinterpret_cast<const kernels::BlockQ8_0*>(src + r * row_bytes), K, dst + r * K);
    else
      kernels::dequantize_row_q4_0(reinterpret_cast<const kernels::BlockQ4_0*>(src + r * row_bytes), K, dst + r * K);
  }
  return out;
}

}  // namespace cornerstone::ops

#include "cornerstone/kernels/elementwise.h"

#include "kernels/cpu/dispatch.h"

namespace cornerstone::kernels {

CS_DECLARE_VARIANTS(void, add, (const float*, const float*, int64_t, float*))
CS_DECLARE_VARIANTS(void, mul, (const float*, const float*, int64_t, float*))
CS_DECLARE_VARIANTS(void, axpy, (float, const float*, int64_t, float*))
CS_DECLARE_VARIANTS(void, scale, (float*, int64_t, float))
CS_DECLARE_VARIANTS(void, fill, (float*, int64_t, float))
CS_DECLARE_VARIANTS(void, add_rows, (const float*, int64_t, int64_t, float*))
CS_DECLARE_VARIANTS(void, sum_rows, (const float*, int64_t, int64_t, float*))
CS_DECLARE_VARIANTS(void, f32_to_bf16, (const float*, int64_t, bf16*))
CS_DECLARE_VARIANTS(void, bf16_to_f32, (const bf16*, int64_t, float*))

void add(const float* a, const float* b, int64_t n, float* y) { CS_DISPATCH(add, a, b, n, y); }
void mul(const float* a, const float* b, int64_t n, float* y) { CS_DISPATCH(mul, a, b, n, y); }
void axpy(float alpha, const float* x, int64_t n, float* y) { CS_DISPATCH(axpy, alpha, x, n, y); }
void scale(float* x, int64_t n, float s) { CS_DISPATCH(scale, x, n, s); }
void fill(float* x, int64_t n, float value) { CS_DISPATCH(fill, x, n, value); }
void add_rows(const float* bias, int64_t N, int64_t C, float* y) { CS_DISPATCH(add_rows, bias, N, C, y); }
void sum_rows(const float* dy, int64_t N, int64_t C, float* db) { CS_DISPATCH(sum_rows, dy, N, C, db); }
void f32_to_bf16(const float* x, int64_t n, bf16* y) { CS_DISPATCH(f32_to_bf16, x, n, y); }
void bf16_to_f32(const bf16* x, int64_t n, float* y) { CS_DISPATCH(bf16_to_f32, x, n, y); }

Tensor to_dtype(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype && t.is_contiguous()) return t;
  if (!t.is_contiguous() || !((t.dtype() == DType::F32 && dtype == DType::BF16) || (t.dtype() == DType::BF16 && dtype == DType::F32)))
    return t.to(dtype).contiguous();
  Tensor out = Tensor::empty(t.shape(), dtype);
  if (dtype == DType::BF16) f32_to_bf16(t.data<float>(), t.numel(), out.data<bf16>());
  else bf16_to_f32(t.data<bf16>(), t.numel(), out.data<float>());
  return out;
}

}  // namespace cornerstone::kernels

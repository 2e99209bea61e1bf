#include "cornerstone/ops/linear.h"

#include "cornerstone/autograd/graph.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/profiler.h"
#include "cornerstone/kernels/elementwise.h"
#include "cornerstone/kernels/gemm.h"
#include "cornerstone/ops/precision.h"

namespace cornerstone::ops {

using kernels::Trans;

namespace {

// A GEMM operand: fp32, or its bf16 rounding under mixed precision (ops/precision.h).
Tensor as_operand(const Tensor& t, bool use_bf16) {
  if (!use_bf16) return t;
  Tensor o = Tensor::empty(t.shape(), DType::BF16);
  kernels::f32_to_bf16(t.data<float>(), t.numel(), o.data<bf16>());
  return o;
}

// C = alpha op(A) op(B) + beta C with A, B both f32 or both bf16 (fp32 accumulation either way).
void gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const Tensor& A, int64_t lda, const Tensor& B,
          int64_t ldb, float beta, float* C, int64_t ldc) {
  if (A.dtype() == DType::BF16)
    kernels::gemm_bf16(ta, tb, M, N, K, 1.0f, A.data<bf16>(), lda, B.data<bf16>(), ldb, beta, C, ldc);
  else
    kernels::sgemm(ta, tb, M, N, K, 1.0f, A.data<float>(), lda, B.data<float>(), ldb, beta, C, ldc);
}

// Rows of a (..., K) tensor flattened to (rows, K).
int64_t leading_rows(const Tensor& t) { return t.numel() / t.size(-1); }

Shape with_last(const Shape& s, int64_t last) {
  Shape out = s;
  out[s.ndim() - 1] = last;
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  profiler::Scope profile("matmul");
  check_dtype(a, DType::F32, "matmul", "a");
  check_dtype(b, DType::F32, "matmul", "b");
  check_ndim(b, 2, "matmul", "b");
  if (a.ndim() < 2) throw ShapeError("matmul: expected a to be at least 2-d, got " + a.shape().str());
  if (a.size(-1) != b.size(0))
    throw ShapeError("matmul: inner dimensions differ: a " + a.shape().str() + " vs b " + b.shape().str());
  const bool bf = matmul_precision() == Precision::BF16;
  const Tensor ac = as_operand(a.contiguous(), bf), bc = as_operand(b.contiguous(), bf);
  const int64_t M = leading_rows(ac), K = ac.size(-1), N = bc.size(1);
  Tensor out = Tensor::empty(with_last(ac.shape(), N));
  gemm(Trans::N, Trans::N, M, N, K, ac, K, bc, N, 0.0f, out.data<float>(), N);
  if (autograd::needs_grad({a, b})) {
    autograd::record("matmul", {a, b}, out, [ac, bc, M, N, K, bf](const Tensor& grad, autograd::GradSink& sink) {
      const Tensor g = as_operand(grad, bf);
      if (sink.needs(0)) {  // da (M, K) = g (M, N) @ b^T
        auto da = sink.buffer(0);
        gemm(Trans::N, Trans::T, M, K, N, g, N, bc, N, da.fresh ? 0.0f : 1.0f, da.data(), K);
      }
      if (sink.needs(1)) {  // db (K, N) = a^T @ g
        auto db = sink.buffer(1);
        gemm(Trans::T, Trans::N, K, N, M, ac, K, g, N, db.fresh ? 0.0f : 1.0f, db.data(), N);
      }
    });
  }
  return out;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  profiler::Scope profile("linear");
  check_dtype(x, DType::F32, "linear", "x");
  check_dtype(weight, DType::F32, "linear", "weight");
  check_ndim(weight, 2, "linear", "weight");
  if (x.ndim() < 1 || x.size(-1) != weight.size(1))
    throw ShapeError("linear: input features differ: x " + x.shape().str() + " vs weight " + weight.shape().str() +
                     " (out, in)");
  if (bias.defined()) {
    check_dtype(bias, DType::F32, "linear", "bias");
    if (bias.ndim() != 1 || bias.size(0) != weight.size(0))
      throw ShapeError("linear: bias " + bias.shape().str() + " does not match weight " + weight.shape().str());
  }
  const bool bf = matmul_precision() == Precision::BF16;
  const Tensor xc = as_operand(x.contiguous(), bf), wc = as_operand(weight.contiguous(), bf);
  const int64_t N = leading_rows(xc), K = xc.size(-1), M = wc.size(0);
  Tensor out = Tensor::empty(with_last(xc.shape(), M));  // (N, M)
  float beta = 0.0f;
  if (bias.defined()) {  // start from the broadcast bias and let the GEMM add into it
    const Tensor bc = bias.contiguous();
    float* o = out.data<float>();
    const float* bp = bc.data<float>();
#pragma omp parallel for schedule(static) if (N * M > (1 << 15))
    for (int64_t r = 0; r < N; ++r) std::copy(bp, bp + M, o + r * M);
    beta = 1.0f;
  }
  gemm(Trans::N, Trans::T, N, M, K, xc, K, wc, K, beta, out.data<float>(), M);
  if (autograd::needs_grad({x, weight, bias})) {
    autograd::record("linear", {x, weight, bias}, out, [xc, wc, N, M, K, bf](const Tensor& grad, autograd::GradSink& sink) {
      const Tensor g = as_operand(grad, bf);
      if (sink.needs(0)) {  // dx (N, K) = g (N, M) @ W (M, K)
        auto dx = sink.buffer(0);
        gemm(Trans::N, Trans::N, N, K, M, g, M, wc, K, dx.fresh ? 0.0f : 1.0f, dx.data(), K);
      }
      if (sink.needs(1)) {  // dW (M, K) = g^T (M, N) @ x (N, K)
        auto dw = sink.buffer(1);
        gemm(Trans::T, Trans::N, M, K, N, g, M, xc, K, dw.fresh ? 0.0f : 1.0f, dw.data(), K);
      }
      if (sink.needs(2)) {  // db (M) = sum over rows of the fp32 gradient
        auto db = sink.buffer(2);
        if (db.fresh) db.tensor.zero();
        kernels::sum_rows(grad.data<float>(), N, M, db.data());
      }
    });
  }
  return out;
}

Tensor linear_frozen(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  profiler::Scope profile("linear (frozen)");
  if (weight.dtype() == DType::F32) return linear(x, weight.detach(), bias.defined() ? bias.detach() : Tensor());
  check_dtype(weight, DType::BF16, "linear_frozen", "weight");
  check_dtype(x, DType::F32, "linear_frozen", "x");
  check_ndim(weight, 2, "linear_frozen", "weight");
  if (x.size(-1) != weight.size(1))
    throw ShapeError("linear_frozen: input features differ: x " + x.shape().str() + " vs weight " + weight.shape().str());
  const Tensor xb = as_operand(x.contiguous(), true), wb = weight.contiguous();
  const int64_t N = leading_rows(xb), K = xb.size(-1), M = wb.size(0);
  Tensor out = Tensor::empty(with_last(x.shape(), M));
  float beta = 0.0f;
  if (bias.defined()) {
    const Tensor bc = bias.contiguous();
    for (int64_t r = 0; r < N; ++r) std::copy(bc.data<float>(), bc.data<float>() + M, out.data<float>() + r * M);
    beta = 1.0f;
  }
  gemm(Trans::N, Trans::T, N, M, K, xb, K, wb, K, beta, out.data<float>(), M);
  if (autograd::needs_grad({x})) {
    autograd::record("linear_frozen", {x}, out, [wb, N, M, K](const Tensor& grad, autograd::GradSink& sink) {
      const Tensor g = as_operand(grad, true);
      auto dx = sink.buffer(0);  // dx (N, K) = g (N, M) @ W (M, K)
      gemm(Trans::N, Trans::N, N, K, M, g, M, wb, K, dx.fresh ? 0.0f : 1.0f, dx.data(), K);
    });
  }
  return out;
}

Tensor add_columns(const Tensor& y, const Tensor& d, int64_t start) {
  profiler::Scope profile("add_columns");
  check_dtype(y, DType::F32, "add_columns", "y");
  check_dtype(d, DType::F32, "add_columns", "d");
  const int64_t M = y.size(-1), m = d.size(-1), rows = y.numel() / M;
  if (d.numel() / m != rows || start < 0 || start + m > M)
    throw ShapeError("add_columns: d " + d.shape().str() + " does not fit into the columns of y " + y.shape().str() +
                     " from " + std::to_string(start));
  const Tensor yc = y.contiguous(), dc = d.contiguous();
  Tensor out = yc.detach().clone();
  for (int64_t r = 0; r < rows; ++r) kernels::add(out.data<float>() + r * M + start, dc.data<float>() + r * m, m, out.data<float>() + r * M + start);
  if (autograd::needs_grad({y, d})) {
    autograd::record("add_columns", {y, d}, out, [rows, M, m, start](const Tensor& g, autograd::GradSink& sink) {
      if (sink.needs(0)) sink.accumulate(0, g);
      if (sink.needs(1)) {
        auto dd = sink.buffer(1);
        for (int64_t r = 0; r < rows; ++r) {
          const float* src = g.data<float>() + r * M + start;
          float* dst = dd.data() + r * m;
          if (dd.fresh)
            std::copy(src, src + m, dst);
          else
            kernels::add(dst, src, m, dst);
        }
      }
    });
  }
  return out;
}

}  // namespace cornerstone::ops

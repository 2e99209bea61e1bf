#include "cornerstone/ops/linear.h"

#include "cornerstone/autograd/graph.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/profiler.h"
#include "cornerstone/kernels/elementwise.h"
#include "cornerstone/kernels/gemm.h"
#include "cornerstone/ops/precision.h"
#include "cornerstone/ops/quantize.h"

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

namespace {

void check_linear(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_dtype(x, DType::F32, op, "x");
  check_dtype(weight, DType::F32, op, "weight");
  check_ndim(weight, 2, op, "weight");
  if (x.ndim() < 1 || x.size(-1) != weight.size(1))
    throw ShapeError(std::string(op) + ": input features differ: x " + x.shape().str() + " vs weight " + weight.shape().str() +
                     " (out, in)");
  if (bias.defined()) {
    check_dtype(bias, DType::F32, op, "bias");
    if (bias.ndim() != 1 || bias.size(0) != weight.size(0))
      throw ShapeError(std::string(op) + ": bias " + bias.shape().str() + " does not match weight " + weight.shape().str());
  }
}

// out (N, M) = xc (N, K) wc (M, K)^T + bias: the GEMM adds into the broadcast bias.
void linear_forward(const Tensor& xc, const Tensor& wc, const Tensor& bias, int64_t N, int64_t M, int64_t K, float* out) {
  float beta = 0.0f;
  if (bias.defined()) {
    const Tensor bc = bias.contiguous();
    const float* bp = bc.data<float>();
#pragma omp parallel for schedule(static) if (N * M > (1 << 15))
    for (int64_t r = 0; r < N; ++r) std::copy(bp, bp + M, out + r * M);
    beta = 1.0f;
  }
  gemm(Trans::N, Trans::T, N, M, K, xc, K, wc, K, beta, out, M);
}

// The input and weight gradients of a linear layer from g, the gradient of its output (N, M), as a
// GEMM operand (fp32, or bf16 under mixed precision).
void linear_backward_gemms(const Tensor& g, const Tensor& xc, const Tensor& wc, int64_t N, int64_t M, int64_t K,
                           autograd::GradSink& sink) {
  if (sink.needs(0)) {  // dx (N, K) = g (N, M) @ W (M, K)
    auto dx = sink.buffer(0);
    gemm(Trans::N, Trans::N, N, K, M, g, M, wc, K, dx.fresh ? 0.0f : 1.0f, dx.data(), K);
  }
  if (sink.needs(1)) {  // dW (M, K) = g^T (M, N) @ x (N, K)
    auto dw = sink.buffer(1);
    gemm(Trans::T, Trans::N, M, K, N, g, M, xc, K, dw.fresh ? 0.0f : 1.0f, dw.data(), K);
  }
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  profiler::Scope profile("linear");
  check_linear("linear", x, weight, bias);
  const bool bf = matmul_precision() == Precision::BF16;
  const Tensor xc = as_operand(x.contiguous(), bf), wc = as_operand(weight.contiguous(), bf);
  const int64_t N = leading_rows(xc), K = xc.size(-1), M = wc.size(0);
  Tensor out = Tensor::empty(with_last(xc.shape(), M));  // (N, M)
  linear_forward(xc, wc, bias, N, M, K, out.data<float>());
  if (autograd::needs_grad({x, weight, bias})) {
    autograd::record("linear", {x, weight, bias}, out, [xc, wc, N, M, K, bf](const Tensor& grad, autograd::GradSink& sink) {
      linear_backward_gemms(as_operand(grad, bf), xc, wc, N, M, K, sink);
      if (sink.needs(2)) {  // db (M) = sum over rows of the fp32 gradient
        auto db = sink.buffer(2);
        if (db.fresh) db.tensor.zero();
        kernels::sum_rows(grad.data<float>(), N, M, db.data());
      }
    });
  }
  return out;
}

Tensor linear_gelu(const Tensor& x, const Tensor& weight, const Tensor& bias, kernels::GeluKind kind) {
  profiler::Scope profile("linear_gelu");
  check_linear("linear_gelu", x, weight, bias);
  const bool bf = matmul_precision() == Precision::BF16;
  const Tensor xc = as_operand(x.contiguous(), bf), wc = as_operand(weight.contiguous(), bf);
  const int64_t N = leading_rows(xc), K = xc.size(-1), M = wc.size(0);
  Tensor h = Tensor::empty(with_last(xc.shape(), M));  // the pre-activation, kept for the backward
  linear_forward(xc, wc, bias, N, M, K, h.data<float>());
  Tensor out = Tensor::empty(h.shape());
  kernels::gelu_forward(kind, h.data<float>(), h.numel(), out.data<float>());
  if (autograd::needs_grad({x, weight, bias})) {
    autograd::record("linear_gelu", {x, weight, bias}, out, [xc, wc, h, N, M, K, bf, kind](const Tensor& grad, autograd::GradSink& sink) {
      // dh and the bias gradient in one pass over (N, M); under mixed precision dh is only a GEMM
      // operand and is written straight as bf16.
      Tensor dh = Tensor::empty({N, M}, bf ? DType::BF16 : DType::F32);
      float* db = nullptr;
      autograd::GradSink::Buffer dbias{Tensor(), false};
      if (sink.needs(2)) {
        dbias = sink.buffer(2);
        if (dbias.fresh) dbias.tensor.zero();
        db = dbias.data();
      }
      kernels::gelu_backward_bias(kind, h.data<float>(), grad.data<float>(), N, M, bf ? nullptr : dh.data<float>(),
                                  bf ? dh.data<bf16>() : nullptr, db);
      linear_backward_gemms(dh, xc, wc, N, M, K, sink);
    });
  }
  return out;
}

Tensor linear_frozen(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  profiler::Scope profile("linear (frozen)");
  if (weight.dtype() == DType::F32) return linear(x, weight.detach(), bias.defined() ? bias.detach() : Tensor());
  if (weight.dtype() == DType::Q8_0) {
    // Dequantized to bf16 for this product (and again in backward): only the q8_0 copy is kept.
    return linear_frozen(x, kernels::to_dtype(dequantize(weight), DType::BF16), bias);
  }
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

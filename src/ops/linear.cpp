#include "cornerstone/ops/linear.h"

#include "cornerstone/autograd/graph.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/profiler.h"
#include "cornerstone/kernels/elementwise.h"
#include "cornerstone/kernels/gemm.h"

namespace cornerstone::ops {

using kernels::Trans;

namespace {

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
  const Tensor ac = a.contiguous(), bc = b.contiguous();
  const int64_t M = leading_rows(ac), K = ac.size(-1), N = bc.size(1);
  Tensor out = Tensor::empty(with_last(ac.shape(), N));
  kernels::sgemm(Trans::N, Trans::N, M, N, K, 1.0f, ac.data<float>(), K, bc.data<float>(), N, 0.0f, out.data<float>(), N);
  if (autograd::needs_grad({a, b})) {
    autograd::record("matmul", {a, b}, out, [ac, bc, M, N, K](const Tensor& g, autograd::GradSink& sink) {
      if (sink.needs(0)) {  // da (M, K) = g (M, N) @ b^T
        auto da = sink.buffer(0);
        kernels::sgemm(Trans::N, Trans::T, M, K, N, 1.0f, g.data<float>(), N, bc.data<float>(), N, da.fresh ? 0.0f : 1.0f,
                       da.data(), K);
      }
      if (sink.needs(1)) {  // db (K, N) = a^T @ g
        auto db = sink.buffer(1);
        kernels::sgemm(Trans::T, Trans::N, K, N, M, 1.0f, ac.data<float>(), K, g.data<float>(), N, db.fresh ? 0.0f : 1.0f,
                       db.data(), N);
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
  const Tensor xc = x.contiguous(), wc = weight.contiguous();
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
  kernels::sgemm(Trans::N, Trans::T, N, M, K, 1.0f, xc.data<float>(), K, wc.data<float>(), K, beta, out.data<float>(), M);
  if (autograd::needs_grad({x, weight, bias})) {
    autograd::record("linear", {x, weight, bias}, out, [xc, wc, N, M, K](const Tensor& g, autograd::GradSink& sink) {
      if (sink.needs(0)) {  // dx (N, K) = g (N, M) @ W (M, K)
        auto dx = sink.buffer(0);
        kernels::sgemm(Trans::N, Trans::N, N, K, M, 1.0f, g.data<float>(), M, wc.data<float>(), K, dx.fresh ? 0.0f : 1.0f,
                       dx.data(), K);
      }
      if (sink.needs(1)) {  // dW (M, K) = g^T (M, N) @ x (N, K)
        auto dw = sink.buffer(1);
        kernels::sgemm(Trans::T, Trans::N, M, K, N, 1.0f, g.data<float>(), M, xc.data<float>(), K, dw.fresh ? 0.0f : 1.0f,
                       dw.data(), K);
      }
      if (sink.needs(2)) {  // db (M) = sum over rows of g
        auto db = sink.buffer(2);
        if (db.fresh) db.tensor.zero();
        kernels::sum_rows(g.data<float>(), N, M, db.data());
      }
    });
  }
  return out;
}

}  // namespace cornerstone::ops

#include "cornerstone/ops/norm.h"

#include "cornerstone/autograd/graph.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/profiler.h"
#include "cornerstone/kernels/norm.h"

namespace cornerstone::ops {

namespace {
void check_param(const Tensor& p, int64_t C, const char* op, const char* arg, const Tensor& x) {
  if (!p.defined()) return;
  check_dtype(p, DType::F32, op, arg);
  if (p.ndim() != 1 || p.size(0) != C)
    throw ShapeError(std::string(op) + ": " + arg + " " + p.shape().str() + " does not match the last dimension of x " +
                     x.shape().str());
}
}  // namespace

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
  profiler::Scope profile("layer_norm");
  check_dtype(x, DType::F32, "layer_norm", "x");
  const int64_t C = x.size(-1), N = x.numel() / C;
  check_param(weight, C, "layer_norm", "weight", x);
  check_param(bias, C, "layer_norm", "bias", x);
  const Tensor xc = x.contiguous();
  const Tensor wc = weight.defined() ? weight.contiguous() : Tensor(), bc = bias.defined() ? bias.contiguous() : Tensor();
  Tensor out = Tensor::empty(x.shape());
  Tensor mean = Tensor::empty({N}), rstd = Tensor::empty({N});  // (N,)
  kernels::layernorm_forward(xc.data<float>(), wc.defined() ? wc.data<float>() : nullptr,
                             bc.defined() ? bc.data<float>() : nullptr, N, C, eps, out.data<float>(), mean.data<float>(),
                             rstd.data<float>());
  if (autograd::needs_grad({x, weight, bias})) {
    autograd::record("layer_norm", {x, weight, bias}, out, [xc, wc, mean, rstd, N, C](const Tensor& g, autograd::GradSink& sink) {
      float* dx = nullptr;
      bool acc = false;
      if (sink.needs(0)) {
        auto b = sink.buffer(0);
        dx = b.data(), acc = !b.fresh;
      }
      float* dw = nullptr;
      float* db = nullptr;
      if (sink.needs(1)) {
        auto b = sink.buffer(1);
        if (b.fresh) b.tensor.zero();
        dw = b.data();
      }
      if (sink.needs(2)) {
        auto b = sink.buffer(2);
        if (b.fresh) b.tensor.zero();
        db = b.data();
      }
      kernels::layernorm_backward(g.data<float>(), xc.data<float>(), wc.defined() ? wc.data<float>() : nullptr,
                                  mean.data<float>(), rstd.data<float>(), N, C, dx, acc, dw, db);
    });
  }
  return out;
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps) {
  profiler::Scope profile("rms_norm");
  check_dtype(x, DType::F32, "rms_norm", "x");
  const int64_t C = x.size(-1), N = x.numel() / C;
  check_param(weight, C, "rms_norm", "weight", x);
  const Tensor xc = x.contiguous();
  const Tensor wc = weight.defined() ? weight.contiguous() : Tensor();
  Tensor out = Tensor::empty(x.shape());
  Tensor rstd = Tensor::empty({N});
  kernels::rmsnorm_forward(xc.data<float>(), wc.defined() ? wc.data<float>() : nullptr, N, C, eps, out.data<float>(),
                           rstd.data<float>());
  if (autograd::needs_grad({x, weight})) {
    autograd::record("rms_norm", {x, weight}, out, [xc, wc, rstd, N, C](const Tensor& g, autograd::GradSink& sink) {
      float* dx = nullptr;
      bool acc = false;
      if (sink.needs(0)) {
        auto b = sink.buffer(0);
        dx = b.data(), acc = !b.fresh;
      }
      float* dw = nullptr;
      if (sink.needs(1)) {
        auto b = sink.buffer(1);
        if (b.fresh) b.tensor.zero();
        dw = b.data();
      }
      kernels::rmsnorm_backward(g.data<float>(), xc.data<float>(), wc.defined() ? wc.data<float>() : nullptr,
                                rstd.data<float>(), N, C, dx, acc, dw);
    });
  }
  return out;
}

}  // namespace cornerstone::ops

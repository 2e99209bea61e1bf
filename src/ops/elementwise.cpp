#include "cornerstone/ops/elementwise.h"

#include <cmath>

#include "cornerstone/autograd/graph.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/profiler.h"
#include "cornerstone/kernels/elementwise.h"
#include "cornerstone/kernels/optim.h"

namespace cornerstone::ops {

namespace {

void check_binary(const Tensor& a, const Tensor& b, const char* op) {
  check_dtype(a, DType::F32, op, "a");
  check_dtype(b, DType::F32, op, "b");
  if (a.shape() != b.shape()) throw ShapeError(std::string(op) + ": shapes differ: a " + a.shape().str() + " vs b " + b.shape().str());
}

// Adds s * g into input i's gradient.
void accumulate_scaled(autograd::GradSink& sink, size_t i, const Tensor& g, float s) {
  auto buf = sink.buffer(i);
  if (buf.fresh) {
    std::copy(g.data<float>(), g.data<float>() + g.numel(), buf.data());
    if (s != 1.0f) kernels::scale(buf.data(), g.numel(), s);
  } else {
    kernels::axpy(s, g.data<float>(), g.numel(), buf.data());
  }
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  profiler::Scope profile("add");
  check_binary(a, b, "add");
  const Tensor ac = a.contiguous(), bc = b.contiguous();
  Tensor out = Tensor::empty(a.shape());
  kernels::add(ac.data<float>(), bc.data<float>(), out.numel(), out.data<float>());
  if (autograd::needs_grad({a, b})) {
    autograd::record("add", {a, b}, out, [](const Tensor& g, autograd::GradSink& sink) {
      if (sink.needs(0)) accumulate_scaled(sink, 0, g, 1.0f);
      if (sink.needs(1)) accumulate_scaled(sink, 1, g, 1.0f);
    });
  }
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  profiler::Scope profile("sub");
  check_binary(a, b, "sub");
  const Tensor ac = a.contiguous(), bc = b.contiguous();
  Tensor out = Tensor::empty(a.shape());
  out.copy_from(ac);
  kernels::axpy(-1.0f, bc.data<float>(), out.numel(), out.data<float>());
  if (autograd::needs_grad({a, b})) {
    autograd::record("sub", {a, b}, out, [](const Tensor& g, autograd::GradSink& sink) {
      if (sink.needs(0)) accumulate_scaled(sink, 0, g, 1.0f);
      if (sink.needs(1)) accumulate_scaled(sink, 1, g, -1.0f);
    });
  }
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  profiler::Scope profile("mul");
  check_binary(a, b, "mul");
  const Tensor ac = a.contiguous(), bc = b.contiguous();
  Tensor out = Tensor::empty(a.shape());
  kernels::mul(ac.data<float>(), bc.data<float>(), out.numel(), out.data<float>());
  if (autograd::needs_grad({a, b})) {
    autograd::record("mul", {a, b}, out, [ac, bc](const Tensor& g, autograd::GradSink& sink) {
      const int64_t n = g.numel();
      for (size_t i = 0; i < 2; ++i) {
        if (!sink.needs(i)) continue;
        const Tensor& other = i == 0 ? bc : ac;
        auto buf = sink.buffer(i);
        if (buf.fresh) {
          kernels::mul(g.data<float>(), other.data<float>(), n, buf.data());
        } else {
          Tensor prod = Tensor::empty(g.shape());
          kernels::mul(g.data<float>(), other.data<float>(), n, prod.data<float>());
          kernels::add(buf.data(), prod.data<float>(), n, buf.data());
        }
      }
    });
  }
  return out;
}

Tensor scale(const Tensor& x, float s) {
  profiler::Scope profile("scale");
  check_dtype(x, DType::F32, "scale", "x");
  Tensor out = x.contiguous().detach().clone();
  kernels::scale(out.data<float>(), out.numel(), s);
  if (autograd::needs_grad({x})) {
    autograd::record("scale", {x}, out, [s](const Tensor& g, autograd::GradSink& sink) { accumulate_scaled(sink, 0, g, s); });
  }
  return out;
}

Tensor scale_by_exp(const Tensor& x, const Tensor& log_scale, float max_log) {
  profiler::Scope profile("scale_by_exp");
  check_dtype(x, DType::F32, "scale_by_exp", "x");
  check_dtype(log_scale, DType::F32, "scale_by_exp", "log_scale");
  if (log_scale.numel() != 1) throw ShapeError("scale_by_exp: log_scale must hold one value, got " + log_scale.shape().str());
  const float t = log_scale.contiguous().data<float>()[0];
  const bool clamped = t > max_log;
  const float s = std::exp(clamped ? max_log : t);
  const Tensor xc = x.contiguous();
  Tensor out = xc.detach().clone();
  kernels::scale(out.data<float>(), out.numel(), s);
  if (autograd::needs_grad({x, log_scale})) {
    autograd::record("scale_by_exp", {x, log_scale}, out, [saved = out.detach(), s, clamped](const Tensor& g, autograd::GradSink& sink) {
      if (sink.needs(0)) accumulate_scaled(sink, 0, g, s);
      if (sink.needs(1)) {
        // d/dt (x e^t) = x e^t = out: the gradient is sum(g * out).
        double acc = 0;
        if (!clamped) {
          const float *gp = g.data<float>(), *op = saved.data<float>();
          for (int64_t i = 0; i < g.numel(); ++i) acc += static_cast<double>(gp[i]) * op[i];
        }
        auto buf = sink.buffer(1);
        if (buf.fresh) buf.data()[0] = static_cast<float>(acc);
        else buf.data()[0] += static_cast<float>(acc);
      }
    });
  }
  return out;
}

Tensor sum(const Tensor& x) {
  check_dtype(x, DType::F32, "sum", "x");
  const Tensor xc = x.contiguous();
  const float* p = xc.data<float>();
  const int64_t n = xc.numel();
  // Eight running sums in double: independent additions the CPU overlaps (one chain waits ~4 cycles
  // per element), added in a fixed order.
  double part[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) part[j] += p[i + j];
  for (; i < n; ++i) part[0] += p[i];
  double acc = 0;
  for (double v : part) acc += v;
  Tensor out = Tensor::full({1}, static_cast<float>(acc));
  if (autograd::needs_grad({x})) {
    autograd::record("sum", {x}, out, [](const Tensor& g, autograd::GradSink& sink) {
      auto buf = sink.buffer(0);
      const float v = g.item();
      if (buf.fresh)
        kernels::fill(buf.data(), buf.tensor.numel(), v);
      else
        for (int64_t i = 0, n = buf.tensor.numel(); i < n; ++i) buf.data()[i] += v;
    });
  }
  return out;
}

Tensor mean(const Tensor& x) {
  check_dtype(x, DType::F32, "mean", "x");
  if (x.numel() == 0) throw ShapeError("mean: empty tensor");
  return scale(sum(x), 1.0f / static_cast<float>(x.numel()));
}

}  // namespace cornerstone::ops

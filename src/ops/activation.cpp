#include "cornerstone/ops/activation.h"

#include "cornerstone/autograd/graph.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/profiler.h"
#include "cornerstone/kernels/softmax.h"

namespace cornerstone::ops {

Tensor gelu(const Tensor& x, GeluKind kind) {
  profiler::Scope profile("gelu");
  check_dtype(x, DType::F32, "gelu", "x");
  const Tensor xc = x.contiguous();
  Tensor out = Tensor::empty(x.shape());
  kernels::gelu_forward(kind, xc.data<float>(), xc.numel(), out.data<float>());
  if (autograd::needs_grad({x})) {
    autograd::record("gelu", {x}, out, [xc, kind](const Tensor& g, autograd::GradSink& sink) {
      auto dx = sink.buffer(0);
      kernels::gelu_backward(kind, xc.data<float>(), g.data<float>(), xc.numel(), dx.data(), !dx.fresh);
    });
  }
  return out;
}

Tensor silu(const Tensor& x) {
  profiler::Scope profile("silu");
  check_dtype(x, DType::F32, "silu", "x");
  const Tensor xc = x.contiguous();
  Tensor out = Tensor::empty(x.shape());
  kernels::silu_forward(xc.data<float>(), xc.numel(), out.data<float>());
  if (autograd::needs_grad({x})) {
    autograd::record("silu", {x}, out, [xc](const Tensor& g, autograd::GradSink& sink) {
      auto dx = sink.buffer(0);
      kernels::silu_backward(xc.data<float>(), g.data<float>(), xc.numel(), dx.data(), !dx.fresh);
    });
  }
  return out;
}

Tensor relu(const Tensor& x) {
  profiler::Scope profile("relu");
  check_dtype(x, DType::F32, "relu", "x");
  const Tensor xc = x.contiguous();
  Tensor out = Tensor::empty(x.shape());
  kernels::relu_forward(xc.data<float>(), xc.numel(), out.data<float>());
  if (autograd::needs_grad({x})) {
    const Tensor y = out.detach();
    autograd::record("relu", {x}, out, [y](const Tensor& g, autograd::GradSink& sink) {
      auto dx = sink.buffer(0);
      kernels::relu_backward(y.data<float>(), g.data<float>(), y.numel(), dx.data(), !dx.fresh);
    });
  }
  return out;
}

Tensor tanh(const Tensor& x) {
  profiler::Scope profile("tanh");
  check_dtype(x, DType::F32, "tanh", "x");
  const Tensor xc = x.contiguous();
  Tensor out = Tensor::empty(x.shape());
  kernels::tanh_forward(xc.data<float>(), xc.numel(), out.data<float>());
  if (autograd::needs_grad({x})) {
    const Tensor y = out.detach();  // the backward needs only the output
    autograd::record("tanh", {x}, out, [y](const Tensor& g, autograd::GradSink& sink) {
      auto dx = sink.buffer(0);
      kernels::tanh_backward(y.data<float>(), g.data<float>(), y.numel(), dx.data(), !dx.fresh);
    });
  }
  return out;
}

Tensor log_sigmoid(const Tensor& x) {
  check_dtype(x, DType::F32, "log_sigmoid", "x");
  const Tensor xc = x.contiguous();
  Tensor out = Tensor::empty(x.shape());
  kernels::log_sigmoid_forward(xc.data<float>(), xc.numel(), out.data<float>());
  if (autograd::needs_grad({x})) {
    autograd::record("log_sigmoid", {x}, out, [xc](const Tensor& g, autograd::GradSink& sink) {
      auto dx = sink.buffer(0);
      kernels::log_sigmoid_backward(xc.data<float>(), g.data<float>(), xc.numel(), dx.data(), !dx.fresh);
    });
  }
  return out;
}

Tensor swiglu(const Tensor& gate_up) {
  profiler::Scope profile("swiglu");
  check_dtype(gate_up, DType::F32, "swiglu", "gate_up");
  if (gate_up.size(-1) % 2 != 0)
    throw ShapeError("swiglu: last dimension of gate_up " + gate_up.shape().str() + " must be even ([gate | up])");
  const Tensor xc = gate_up.contiguous();
  const int64_t F = xc.size(-1) / 2, N = xc.numel() / (2 * F);
  Shape s = xc.shape();
  s[s.ndim() - 1] = F;
  Tensor out = Tensor::empty(s);
  kernels::swiglu_forward(xc.data<float>(), N, F, out.data<float>());
  if (autograd::needs_grad({gate_up})) {
    autograd::record("swiglu", {gate_up}, out, [xc, N, F](const Tensor& g, autograd::GradSink& sink) {
      auto dx = sink.buffer(0);
      kernels::swiglu_backward(xc.data<float>(), g.data<float>(), N, F, dx.data(), !dx.fresh);
    });
  }
  return out;
}

Tensor softmax(const Tensor& x) {
  profiler::Scope profile("softmax");
  check_dtype(x, DType::F32, "softmax", "x");
  const Tensor xc = x.contiguous();
  const int64_t C = xc.size(-1), N = xc.numel() / C;
  Tensor out = Tensor::empty(x.shape());
  kernels::softmax_forward(xc.data<float>(), N, C, out.data<float>());
  if (autograd::needs_grad({x})) {
    const Tensor y = out.detach();
    autograd::record("softmax", {x}, out, [y, N, C](const Tensor& g, autograd::GradSink& sink) {
      auto dx = sink.buffer(0);
      kernels::softmax_backward(y.data<float>(), g.data<float>(), N, C, dx.data(), !dx.fresh);
    });
  }
  return out;
}

}  // namespace cornerstone::ops

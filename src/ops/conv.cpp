#include "cornerstone/ops/conv.h"

#include <algorithm>
#include <string>

#include "cornerstone/autograd/graph.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/profiler.h"
#include "cornerstone/kernels/conv.h"
#include "cornerstone/kernels/norm.h"

namespace cornerstone::ops {

namespace {

std::string num(int64_t v) { return std::to_string(v); }

// The geometry of a window op on x (B, C, H, W), checked: the window fits the padded image.
kernels::Conv2dGeometry geometry(const Tensor& x, int64_t kh, int64_t kw, int64_t stride, int64_t padding, const char* op) {
  check_dtype(x, DType::F32, op, "x");
  if (x.ndim() != 4) throw ShapeError(std::string(op) + ": x must be (B, C, H, W), got " + x.shape().str());
  if (stride < 1) throw ValueError(std::string(op) + ": stride must be >= 1, got " + num(stride));
  if (padding < 0) throw ValueError(std::string(op) + ": padding must be >= 0, got " + num(padding));
  const kernels::Conv2dGeometry g{x.size(1), x.size(2), x.size(3), kh, kw, stride, padding};
  if (kh < 1 || kw < 1 || g.H + 2 * padding < kh || g.W + 2 * padding < kw)
    throw ShapeError(std::string(op) + ": a " + num(kh) + "x" + num(kw) + " window does not fit the image " + x.shape().str() +
                     " with padding " + num(padding));
  return g;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding) {
  profiler::Scope profile("conv2d");
  check_dtype(weight, DType::F32, "conv2d", "weight");
  if (weight.ndim() != 4) throw ShapeError("conv2d: weight must be (O, C, kh, kw), got " + weight.shape().str());
  const kernels::Conv2dGeometry g = geometry(x, weight.size(2), weight.size(3), stride, padding, "conv2d");
  const int64_t B = x.size(0), O = weight.size(0);
  if (weight.size(1) != g.C)
    throw ShapeError("conv2d: weight " + weight.shape().str() + " expects " + num(weight.size(1)) + " input channels, x " +
                     x.shape().str() + " has " + num(g.C));
  if (bias.defined()) {
    check_dtype(bias, DType::F32, "conv2d", "bias");
    if (bias.ndim() != 1 || bias.size(0) != O)
      throw ShapeError("conv2d: bias " + bias.shape().str() + " must be (" + num(O) + ")");
  }
  const Tensor xc = x.contiguous(), wc = weight.contiguous(), bc = bias.defined() ? bias.contiguous() : Tensor();
  Tensor out = Tensor::empty({B, O, g.Ho(), g.Wo()});
  kernels::conv2d_forward(xc.data<float>(), wc.data<float>(), bc.defined() ? bc.data<float>() : nullptr, B, O, g, out.data<float>());
  if (autograd::needs_grad({x, weight, bias})) {
    autograd::record("conv2d", {x, weight, bias}, out, [xc, wc, g, B, O](const Tensor& dy, autograd::GradSink& sink) {
      bool acc = false;
      float* dx = sink.overwrite_or_add(0, acc);
      float* dw = sink.summed_into(1);
      float* db = sink.summed_into(2);
      kernels::conv2d_backward(dy.data<float>(), xc.data<float>(), wc.data<float>(), B, O, g, dx, acc, dw, db);
    });
  }
  return out;
}

Tensor pad2d(const Tensor& x, int64_t left, int64_t right, int64_t top, int64_t bottom) {
  check_dtype(x, DType::F32, "pad2d", "x");
  if (x.ndim() != 4) throw ShapeError("pad2d: x must be (B, C, H, W), got " + x.shape().str());
  if (left < 0 || right < 0 || top < 0 || bottom < 0) throw ValueError("pad2d: padding must be >= 0");
  const kernels::Pad2d p{left, right, top, bottom};
  const int64_t N = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const Tensor xc = x.contiguous();
  Tensor out = Tensor::empty({x.size(0), x.size(1), H + top + bottom, W + left + right});
  kernels::pad2d_forward(xc.data<float>(), N, H, W, p, out.data<float>());
  if (autograd::needs_grad({x}))
    autograd::record("pad2d", {x}, out, [p, N, H, W](const Tensor& dy, autograd::GradSink& sink) {
      auto dx = sink.buffer(0);
      kernels::pad2d_backward(dy.data<float>(), N, H, W, p, dx.data(), !dx.fresh);
    });
  return out;
}

Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  profiler::Scope profile("max_pool2d");
  const kernels::Conv2dGeometry g = geometry(x, kernel, kernel, stride, padding, "max_pool2d");
  if (2 * padding > kernel)
    throw ValueError("max_pool2d: padding " + num(padding) + " must be at most half the kernel " + num(kernel) + " (as in PyTorch)");
  const int64_t N = x.size(0) * x.size(1);
  const Tensor xc = x.contiguous();
  Tensor out = Tensor::empty({x.size(0), x.size(1), g.Ho(), g.Wo()});
  Tensor argmax = Tensor::empty(out.shape(), DType::I32);
  kernels::max_pool2d_forward(xc.data<float>(), N, g, out.data<float>(), argmax.data<int32_t>());
  if (autograd::needs_grad({x}))
    autograd::record("max_pool2d", {x}, out, [argmax, N, g](const Tensor& dy, autograd::GradSink& sink) {
      auto dx = sink.buffer(0);
      kernels::max_pool2d_backward(dy.data<float>(), argmax.data<int32_t>(), N, g, dx.data(), !dx.fresh);
    });
  return out;
}

namespace {
Tensor avg_pool(const Tensor& x, int64_t kh, int64_t kw, int64_t stride, int64_t padding, const char* op) {
  profiler::Scope profile(op);
  const kernels::Conv2dGeometry g = geometry(x, kh, kw, stride, padding, op);
  if (2 * padding > std::min(kh, kw))
    throw ValueError(std::string(op) + ": padding " + num(padding) + " must be at most half the kernel (as in PyTorch)");
  const int64_t N = x.size(0) * x.size(1);
  const Tensor xc = x.contiguous();
  Tensor out = Tensor::empty({x.size(0), x.size(1), g.Ho(), g.Wo()});
  kernels::avg_pool2d_forward(xc.data<float>(), N, g, out.data<float>());
  if (autograd::needs_grad({x}))
    autograd::record(op, {x}, out, [N, g](const Tensor& dy, autograd::GradSink& sink) {
      auto dx = sink.buffer(0);
      kernels::avg_pool2d_backward(dy.data<float>(), N, g, dx.data(), !dx.fresh);
    });
  return out;
}
}  // namespace

Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  return avg_pool(x, kernel, kernel, stride, padding, "avg_pool2d");
}

Tensor global_avg_pool(const Tensor& x) {
  if (x.ndim() != 4) throw ShapeError("global_avg_pool: x must be (B, C, H, W), got " + x.shape().str());
  return avg_pool(x, x.size(2), x.size(3), 1, 0, "global_avg_pool").view({x.size(0), x.size(1)});
}

Tensor patch_embedding(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t patch) {
  if (x.ndim() != 4) throw ShapeError("patch_embedding: pixels must be (B, C, H, W), got " + x.shape().str());
  if (patch < 1 || x.size(2) % patch != 0 || x.size(3) % patch != 0)
    throw ShapeError("patch_embedding: the image " + num(x.size(2)) + "x" + num(x.size(3)) + " is not a whole number of " +
                     num(patch) + "x" + num(patch) + " patches");
  if (weight.ndim() != 4 || weight.size(2) != patch || weight.size(3) != patch)
    throw ShapeError("patch_embedding: weight " + weight.shape().str() + " must be (D, C, " + num(patch) + ", " + num(patch) + ")");
  const Tensor y = conv2d(x, weight, bias, patch, 0);  // (B, D, h, w)
  const int64_t B = y.size(0), D = y.size(1), N = y.size(2) * y.size(3);
  return y.view({B, D, N}).transpose(1, 2).contiguous();  // (B, N, D)
}

Tensor weight_standardize(const Tensor& weight, float eps) {
  profiler::Scope profile("weight_standardize");
  check_dtype(weight, DType::F32, "weight_standardize", "weight");
  if (weight.ndim() < 2) throw ShapeError("weight_standardize: weight must be (O, ...), got " + weight.shape().str());
  const int64_t O = weight.size(0), K = weight.numel() / std::max<int64_t>(O, 1);
  // Per filter, a layer norm over the flattened fan-in without an affine part; one op (not a view,
  // a layer norm and a view back), so the backward writes into the weight's gradient directly.
  const Tensor wc = weight.contiguous();
  Tensor out = Tensor::empty(weight.shape()), mean = Tensor::empty({O}), rstd = Tensor::empty({O});
  kernels::layernorm_forward(wc.data<float>(), nullptr, nullptr, O, K, eps, out.data<float>(), mean.data<float>(), rstd.data<float>());
  if (autograd::needs_grad({weight}))
    autograd::record("weight_standardize", {weight}, out, [wc, mean, rstd, O, K](const Tensor& g, autograd::GradSink& sink) {
      bool acc = false;
      float* dw = sink.overwrite_or_add(0, acc);
      kernels::layernorm_backward(g.data<float>(), wc.data<float>(), nullptr, mean.data<float>(), rstd.data<float>(), O, K, dw, acc,
                                  nullptr, nullptr);
    });
  return out;
}

}  // namespace cornerstone::ops

#include "cornerstone/ops/norm.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "cornerstone/autograd/graph.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/profiler.h"
#include "cornerstone/kernels/conv.h"
#include "cornerstone/kernels/norm.h"
#include "cornerstone/ops/elementwise.h"

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
      bool acc = false;
      float* dx = sink.overwrite_or_add(0, acc);
      float* dw = sink.summed_into(1);
      float* db = sink.summed_into(2);
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
      bool acc = false;
      float* dx = sink.overwrite_or_add(0, acc);
      float* dw = sink.summed_into(1);
      kernels::rmsnorm_backward(g.data<float>(), xc.data<float>(), wc.defined() ? wc.data<float>() : nullptr,
                                rstd.data<float>(), N, C, dx, acc, dw);
    });
  }
  return out;
}

namespace {
int64_t channel_check(const Tensor& x, const Tensor& weight, const Tensor& bias, const char* op) {
  check_dtype(x, DType::F32, op, "x");
  if (x.ndim() < 2) throw ShapeError(std::string(op) + ": x must be (B, C, ...), got " + x.shape().str());
  const int64_t C = x.size(1);
  for (const auto& [p, name] : {std::pair{weight, "weight"}, std::pair{bias, "bias"}}) {
    if (!p.defined()) continue;
    check_dtype(p, DType::F32, op, name);
    if (p.ndim() != 1 || p.size(0) != C)
      throw ShapeError(std::string(op) + ": " + name + " " + p.shape().str() + " does not match the " + std::to_string(C) +
                       " channels of x " + x.shape().str());
  }
  return C;
}
}  // namespace

Tensor channel_affine(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const int64_t C = channel_check(x, weight, bias, "channel_affine");
  const int64_t B = x.size(0), S = x.numel() / (B * C);
  const Tensor xc = x.contiguous();
  const Tensor wc = weight.defined() ? weight.contiguous() : Tensor(), bc = bias.defined() ? bias.contiguous() : Tensor();
  Tensor out = Tensor::empty(x.shape());
  kernels::channel_affine_forward(xc.data<float>(), wc.defined() ? wc.data<float>() : nullptr, bc.defined() ? bc.data<float>() : nullptr,
                                  B, C, S, out.data<float>());
  if (autograd::needs_grad({x, weight, bias})) {
    autograd::record("channel_affine", {x, weight, bias}, out, [xc, wc, B, C, S](const Tensor& g, autograd::GradSink& sink) {
      bool acc = false;
      float* dx = sink.overwrite_or_add(0, acc);
      float* dw = sink.summed_into(1);
      float* db = sink.summed_into(2);
      kernels::channel_affine_backward(g.data<float>(), xc.data<float>(), wc.defined() ? wc.data<float>() : nullptr, B, C, S, dx, acc,
                                       dw, db);
    });
  }
  return out;
}

namespace {
Tensor group_norm_impl(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, float eps, bool relu) {
  const char* op = relu ? "group_norm_relu" : "group_norm";
  profiler::Scope profile(op);
  const int64_t C = channel_check(x, weight, bias, op);
  if (groups < 1 || C % groups != 0)
    throw ShapeError(std::string(op) + ": " + std::to_string(C) + " channels do not split into " + std::to_string(groups) + " groups");
  const int64_t B = x.size(0), S = x.numel() / std::max<int64_t>(B * C, 1);
  const Tensor xc = x.contiguous();
  const Tensor wc = weight.defined() ? weight.contiguous() : Tensor(), bc = bias.defined() ? bias.contiguous() : Tensor();
  Tensor out = Tensor::empty(x.shape()), mean = Tensor::empty({B * groups}), rstd = Tensor::empty({B * groups});
  const float* w = wc.defined() ? wc.data<float>() : nullptr;
  kernels::groupnorm_forward(xc.data<float>(), w, bc.defined() ? bc.data<float>() : nullptr, B, C, S, groups, eps, relu,
                             out.data<float>(), mean.data<float>(), rstd.data<float>());
  if (autograd::needs_grad({x, weight, bias})) {
    const Tensor y = relu ? out.detach() : Tensor();  // the relu mask
    autograd::record(op, {x, weight, bias}, out,
                     [xc, wc, y, mean, rstd, B, C, S, groups](const Tensor& g, autograd::GradSink& sink) {
                       bool acc = false;
                       float* dx = sink.overwrite_or_add(0, acc);
                       float* dw = sink.summed_into(1);
                       float* db = sink.summed_into(2);
                       kernels::groupnorm_backward(g.data<float>(), xc.data<float>(), y.defined() ? y.data<float>() : nullptr,
                                                   wc.defined() ? wc.data<float>() : nullptr, mean.data<float>(),
                                                   rstd.data<float>(), B, C, S, groups, dx, acc, dw, db);
                     });
  }
  return out;
}
}  // namespace

Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, float eps) {
  return group_norm_impl(x, groups, weight, bias, eps, false);
}

Tensor group_norm_relu(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, float eps) {
  return group_norm_impl(x, groups, weight, bias, eps, true);
}

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean, Tensor running_var, bool training,
                  float momentum, float eps) {
  profiler::Scope profile("batch_norm");
  const int64_t C = channel_check(x, weight, bias, "batch_norm");
  for (const auto& [p, name] : {std::pair{running_mean, "running_mean"}, std::pair{running_var, "running_var"}})
    if (p.defined() && (p.dtype() != DType::F32 || p.ndim() != 1 || p.size(0) != C || !p.is_contiguous()))
      throw ShapeError(std::string("batch_norm: ") + name + " must be a contiguous f32 (" + std::to_string(C) + "), got " + p.shape().str());
  const int64_t B = x.size(0), S = x.numel() / (B * C);
  if (!training) {
    if (!running_mean.defined() || !running_var.defined())
      throw ValueError("batch_norm: evaluation needs running_mean and running_var");
    // y = x * (w rstd) + (b - mean w rstd): a per-channel affine with the statistics as constants.
    std::vector<float> scale(static_cast<size_t>(C)), shift(static_cast<size_t>(C));
    const float* m = running_mean.data<float>();
    const float* v = running_var.data<float>();
    for (int64_t c = 0; c < C; ++c) scale[c] = 1.0f / std::sqrt(v[c] + eps), shift[c] = -m[c] * scale[c];
    Tensor w = Tensor::from_data({C}, scale), b = Tensor::from_data({C}, shift);
    if (weight.defined()) w = mul(weight, w), b = mul(weight, b);
    if (bias.defined()) b = add(b, bias);
    return channel_affine(x, w, b);
  }
  if (B * S < 2) throw ValueError("batch_norm: training needs more than one value per channel, got x " + x.shape().str());
  // Per channel over (B, positions): bring the channels first, a layer norm without affine, back.
  const Tensor xt = x.contiguous().view({B, C, S}).transpose(0, 1).contiguous().view({C, B * S});  // (C, B S)
  if (running_mean.defined() || running_var.defined()) {
    const float* p = xt.data<float>();
    for (int64_t c = 0; c < C; ++c) {
      double sum = 0, sq = 0;
      for (int64_t i = 0; i < B * S; ++i) sum += p[c * B * S + i];
      const double mean = sum / static_cast<double>(B * S);
      for (int64_t i = 0; i < B * S; ++i) sq += (p[c * B * S + i] - mean) * (p[c * B * S + i] - mean);
      const double unbiased = sq / static_cast<double>(B * S - 1);
      if (running_mean.defined()) running_mean.data<float>()[c] = static_cast<float>((1 - momentum) * running_mean.data<float>()[c] + momentum * mean);
      if (running_var.defined()) running_var.data<float>()[c] = static_cast<float>((1 - momentum) * running_var.data<float>()[c] + momentum * unbiased);
    }
  }
  const Tensor normed = layer_norm(xt, Tensor(), Tensor(), eps).view({C, B, S}).transpose(0, 1).contiguous().view(x.shape());
  return weight.defined() || bias.defined() ? channel_affine(normed, weight, bias) : normed;
}

Tensor l2_normalize(const Tensor& x) {
  // rms_norm(x) = x / sqrt(mean(x^2)) = sqrt(C) x / ||x||.
  const int64_t C = x.size(-1);
  return scale(rms_norm(x, Tensor(), 1e-12f), 1.0f / std::sqrt(static_cast<float>(C)));
}

}  // namespace cornerstone::ops

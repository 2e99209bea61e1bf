#include "cornerstone/ops/loss.h"

#include <cmath>
#include <utility>

#include "cornerstone/autograd/graph.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/profiler.h"
#include "cornerstone/kernels/cross_entropy.h"
#include "cornerstone/kernels/elementwise.h"
#include "cornerstone/ops/precision.h"

namespace cornerstone::ops {

namespace {

// Counts the rows that are not ignored and checks every target against the vocabulary.
int64_t count_valid_targets(const Tensor& targets, int64_t V, const char* op) {
  const int32_t* t = targets.data<int32_t>();
  int64_t valid = 0;
  for (int64_t i = 0; i < targets.numel(); ++i) {
    if (t[i] >= V)
      throw ValueError(std::string(op) + ": target " + std::to_string(t[i]) + " at row " + std::to_string(i) +
                       " is outside the vocabulary of " + std::to_string(V));
    valid += t[i] >= 0;
  }
  return valid;
}

float mean_of(const Tensor& losses, int64_t valid) {
  const float* l = losses.data<float>();
  double acc = 0;
  for (int64_t i = 0; i < losses.numel(); ++i) acc += l[i];
  return valid ? static_cast<float>(acc / static_cast<double>(valid)) : 0.0f;
}

// Adds g * src into input i's gradient (adopting src when it is the first contribution and g == 1).
void accumulate_scaled(autograd::GradSink& sink, size_t i, Tensor src, float g) {
  if (!sink.needs(i)) return;
  if (g != 1.0f) kernels::scale(src.data<float>(), src.numel(), g);
  sink.accumulate(i, src);
}

}  // namespace

namespace {

// Each row's loss of logits (N, V) against targets (N), checked, with what the backward needs.
struct RowLosses {
  Tensor logits, targets, losses, lse;  // logits, targets: contiguous copies or views
  int64_t N = 0, V = 0, valid = 0;      // valid: the rows not ignored
};

RowLosses row_losses(const Tensor& logits, const Tensor& targets, const char* op) {
  check_dtype(logits, DType::F32, op, "logits");
  check_dtype(targets, DType::I32, op, "targets");
  check_ndim(logits, 2, op, "logits");
  check_ndim(targets, 1, op, "targets");
  RowLosses r;
  r.N = logits.size(0), r.V = logits.size(1);
  if (targets.size(0) != r.N) throw ShapeError(std::string(op) + ": logits " + logits.shape().str() + " vs targets " + targets.shape().str());
  r.logits = logits.contiguous(), r.targets = targets.contiguous();
  r.valid = count_valid_targets(r.targets, r.V, op);
  r.losses = Tensor::empty({r.N}), r.lse = Tensor::empty({r.N});
  kernels::cross_entropy_forward(r.logits.data<float>(), r.targets.data<int32_t>(), r.N, r.V, r.losses.data<float>(), r.lse.data<float>());
  return r;
}

// dlogits from per-row upstream gradients dloss (N).
void row_losses_backward(const RowLosses& r, const float* dloss, autograd::GradSink& sink) {
  auto dl = sink.buffer(0);
  kernels::cross_entropy_backward(r.logits.data<float>(), r.lse.data<float>(), r.targets.data<int32_t>(), dloss, r.N, r.V, dl.data(),
                                  !dl.fresh);
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& targets) {
  profiler::Scope profile("cross_entropy");
  RowLosses r = row_losses(logits, targets, "cross_entropy");
  Tensor out = Tensor::full({1}, mean_of(r.losses, r.valid));
  if (autograd::needs_grad({logits})) {
    r.losses = Tensor();  // the backward needs the logits, targets and lse only
    autograd::record("cross_entropy", {logits}, out, [r](const Tensor& g, autograd::GradSink& sink) {
      const Tensor dloss = Tensor::full({r.N}, r.valid ? g.item() / static_cast<float>(r.valid) : 0.0f);
      row_losses_backward(r, dloss.data<float>(), sink);
    });
  }
  return out;
}

Tensor token_cross_entropy(const Tensor& logits, const Tensor& targets) {
  profiler::Scope profile("token_cross_entropy");
  RowLosses r = row_losses(logits, targets, "token_cross_entropy");
  Tensor losses = r.losses;
  if (autograd::needs_grad({logits})) {
    r.losses = Tensor();
    autograd::record("token_cross_entropy", {logits}, losses, [r](const Tensor& g, autograd::GradSink& sink) {
      const Tensor dloss = g.contiguous();
      row_losses_backward(r, dloss.data<float>(), sink);
    });
  }
  return losses;
}

Tensor lm_head_cross_entropy(const Tensor& hidden, const Tensor& weight, const Tensor& bias, const Tensor& targets) {
  profiler::Scope profile("lm_head_cross_entropy");
  const char* op = "lm_head_cross_entropy";
  check_dtype(hidden, DType::F32, op, "hidden");
  check_dtype(weight, DType::F32, op, "weight");
  check_dtype(targets, DType::I32, op, "targets");
  check_ndim(weight, 2, op, "weight");
  const int64_t C = hidden.size(-1), N = hidden.numel() / C, V = weight.size(0);
  if (weight.size(1) != C)
    throw ShapeError(std::string(op) + ": hidden " + hidden.shape().str() + " vs weight " + weight.shape().str() + " (V, C)");
  if (targets.numel() != N)
    throw ShapeError(std::string(op) + ": hidden " + hidden.shape().str() + " has " + std::to_string(N) +
                     " rows but targets " + targets.shape().str() + " has " + std::to_string(targets.numel()));
  if (bias.defined()) {
    check_dtype(bias, DType::F32, op, "bias");
    if (bias.ndim() != 1 || bias.size(0) != V)
      throw ShapeError(std::string(op) + ": bias " + bias.shape().str() + " vs weight " + weight.shape().str());
  }
  const Tensor hc = hidden.contiguous(), wc = weight.contiguous(), tc = targets.contiguous();
  const Tensor bc = bias.defined() ? bias.contiguous() : Tensor();
  const int64_t valid = count_valid_targets(tc, V, op);
  const float grad_scale = valid ? 1.0f / static_cast<float>(valid) : 0.0f;

  const bool want_h = autograd::needs_grad({hidden}), want_w = autograd::needs_grad({weight}),
             want_b = autograd::needs_grad({bias});
  // The gradients come out of the same pass as the loss; they are kept until backward scales them.
  Tensor dh = want_h ? Tensor::empty(hidden.shape()) : Tensor();
  Tensor dw = want_w ? Tensor::zeros(weight.shape()) : Tensor();
  Tensor db = want_b ? Tensor::zeros(bias.shape()) : Tensor();
  Tensor losses = Tensor::empty({N});
  float* const dh_p = want_h ? dh.data<float>() : nullptr;
  float* const dw_p = want_w ? dw.data<float>() : nullptr;
  float* const db_p = want_b ? db.data<float>() : nullptr;
  const float* const b_p = bc.defined() ? bc.data<float>() : nullptr;
  if (matmul_precision() == Precision::BF16) {  // mixed precision: bf16 GEMM operands
    const Tensor hb = kernels::to_dtype(hc.detach(), DType::BF16), wb = kernels::to_dtype(wc.detach(), DType::BF16);
    kernels::lm_head_cross_entropy_bf16(hb.data<bf16>(), wb.data<bf16>(), b_p, tc.data<int32_t>(), N, C, V, grad_scale,
                                        losses.data<float>(), dh_p, dw_p, db_p);
  } else {
    kernels::lm_head_cross_entropy(hc.data<float>(), wc.data<float>(), b_p, tc.data<int32_t>(), N, C, V, grad_scale,
                                   losses.data<float>(), dh_p, dw_p, db_p);
  }
  Tensor out = Tensor::full({1}, mean_of(losses, valid));
  if (want_h || want_w || want_b) {
    autograd::record(op, {hidden, weight, bias}, out, [dh, dw, db](const Tensor& g, autograd::GradSink& sink) mutable {
      const float s = g.item();
      // Hand the buffers over (the node is freed right after): no copy on the usual first use.
      if (dh.defined()) accumulate_scaled(sink, 0, std::exchange(dh, Tensor()), s);
      if (dw.defined()) accumulate_scaled(sink, 1, std::exchange(dw, Tensor()), s);
      if (db.defined()) accumulate_scaled(sink, 2, std::exchange(db, Tensor()), s);
    });
  }
  return out;
}

}  // namespace cornerstone::ops

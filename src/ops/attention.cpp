#include "cornerstone/ops/attention.h"

#include <cmath>
#include <cstring>

#include "cornerstone/autograd/graph.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/profiler.h"
#include "cornerstone/kernels/attention.h"
#include "cornerstone/kernels/elementwise.h"

namespace cornerstone::ops {

using kernels::HeadsView;

RopeCache::RopeCache(float theta, int64_t head_dim, int64_t max_positions) {
  if (head_dim % 2 != 0) throw ValueError("rope: head_dim " + std::to_string(head_dim) + " must be even");
  cos_ = Tensor::empty({max_positions, head_dim / 2});
  sin_ = Tensor::empty({max_positions, head_dim / 2});
  kernels::rope_fill_table(theta, head_dim, max_positions, cos_.data<float>(), sin_.data<float>());
  table_ = {max_positions, head_dim / 2, cos_.data<float>(), sin_.data<float>()};
}

namespace {

// A (B, T, H, D) view into a (B, T, row) buffer, starting at head `first_head`.
template <typename T>
HeadsView<T> heads(T* base, int64_t T_len, int64_t row, int64_t D, int64_t first_head) {
  return {base + first_head * D, T_len * row, row, D};
}

}  // namespace

Tensor attention(const Tensor& qkv, const AttentionConfig& cfg) {
  profiler::Scope profile("attention");
  const char* op = "attention";
  check_dtype(qkv, DType::F32, op, "qkv");
  check_ndim(qkv, 3, op, "qkv");
  const int64_t Hq = cfg.n_heads, Hkv = cfg.n_kv_heads, D = cfg.head_dim;
  if (Hq <= 0 || Hkv <= 0 || D <= 0 || Hq % Hkv != 0)
    throw ValueError("attention: n_heads " + std::to_string(Hq) + " must be a positive multiple of n_kv_heads " +
                     std::to_string(Hkv) + " (head_dim " + std::to_string(D) + ")");
  const int64_t B = qkv.size(0), T = qkv.size(1), row = (Hq + 2 * Hkv) * D;
  if (qkv.size(2) != row)
    throw ShapeError("attention: qkv " + qkv.shape().str() + " should have last dimension (n_heads + 2 n_kv_heads) * head_dim = " +
                     std::to_string(row));
  if (cfg.rope && T > cfg.rope->max_positions())
    throw ShapeError("attention: sequence length " + std::to_string(T) + " exceeds the rotary table of " +
                     std::to_string(cfg.rope->max_positions()) + " positions");

  const Tensor x = qkv.contiguous();  // (B, T, row)
  kernels::AttentionDims dims;
  dims.batch = B, dims.q_len = T, dims.kv_len = T, dims.n_heads = Hq, dims.n_kv_heads = Hkv, dims.head_dim = D;
  dims.scale = 1.0f / std::sqrt(static_cast<float>(D));
  dims.causal = cfg.causal;

  // With RoPE, q and k are rotated into their own (B, T, Hq + Hkv, D) buffer; v is read in place.
  Tensor qk;  // rotated q|k, saved for backward
  const float* qk_base = x.data<float>();
  int64_t qk_row = row;
  if (cfg.rope) {
    const int64_t qk_w = (Hq + Hkv) * D;
    qk = Tensor::empty({B, T, qk_w});
    const float* src = x.data<float>();
    float* dst = qk.data<float>();
#pragma omp parallel for schedule(static) if (B * T * qk_w > (1 << 15))
    for (int64_t t = 0; t < B * T; ++t) std::memcpy(dst + t * qk_w, src + t * row, static_cast<size_t>(qk_w) * sizeof(float));
    kernels::rope_apply(cfg.rope->table(), heads(dst, T, qk_w, D, 0), B, T, Hq + Hkv, D, 0, false);
    qk_base = dst;
    qk_row = qk_w;
  }
  const auto q = heads(qk_base, T, qk_row, D, 0);
  const auto k = heads(qk_base, T, qk_row, D, Hq);
  const auto v = heads<const float>(x.data<float>(), T, row, D, Hq + Hkv);

  Tensor out = Tensor::empty({B, T, Hq * D});
  const bool grad = autograd::needs_grad({qkv});
  Tensor lse = grad ? Tensor::empty({B, Hq, T}) : Tensor();
  kernels::attention_forward(dims, q, k, v, heads(out.data<float>(), T, Hq * D, D, 0), grad ? lse.data<float>() : nullptr);

  if (grad) {
    const RopeCache* rope = cfg.rope;
    const Tensor o = out.detach();
    autograd::record(op, {qkv}, out, [x, qk, o, lse, dims, rope, row](const Tensor& g, autograd::GradSink& sink) {
      const int64_t B = dims.batch, T = dims.q_len, Hq = dims.n_heads, Hkv = dims.n_kv_heads, D = dims.head_dim;
      auto buf = sink.buffer(0);
      // dq|dk|dv land straight in the gradient buffer when it is fresh, else in a scratch copy that is added.
      Tensor dst = buf.fresh ? buf.tensor : Tensor::empty({B, T, row});
      const float* qk_base = rope ? qk.data<float>() : x.data<float>();
      const int64_t qk_row = rope ? (Hq + Hkv) * D : row;
      Tensor dqk;  // (B, T, (Hq + Hkv) D) when rotating back is needed
      float* dq_base = dst.data<float>();
      int64_t dq_row = row;
      if (rope) {
        dqk = Tensor::empty({B, T, (Hq + Hkv) * D});
        dq_base = dqk.data<float>();
        dq_row = (Hq + Hkv) * D;
      }
      kernels::attention_backward(dims, heads(qk_base, T, qk_row, D, 0), heads(qk_base, T, qk_row, D, Hq),
                                  heads<const float>(x.data<float>(), T, row, D, Hq + Hkv),
                                  heads<const float>(o.data<float>(), T, Hq * D, D, 0),
                                  heads<const float>(g.data<float>(), T, Hq * D, D, 0), lse.data<float>(),
                                  heads(dq_base, T, dq_row, D, 0), heads(dq_base, T, dq_row, D, Hq),
                                  heads(dst.data<float>(), T, row, D, Hq + Hkv));
      if (rope) {  // d(rotated) -> d(unrotated): the inverse rotation, then into the q|k columns
        kernels::rope_apply(rope->table(), heads(dq_base, T, dq_row, D, 0), B, T, Hq + Hkv, D, 0, true);
        float* d = dst.data<float>();
#pragma omp parallel for schedule(static) if (B * T * dq_row > (1 << 15))
        for (int64_t t = 0; t < B * T; ++t)
          std::memcpy(d + t * row, dq_base + t * dq_row, static_cast<size_t>(dq_row) * sizeof(float));
      }
      if (!buf.fresh) kernels::add(buf.data(), dst.data<float>(), dst.numel(), buf.data());
    });
  }
  return out;
}

}  // namespace cornerstone::ops

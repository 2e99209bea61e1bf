#include "cornerstone/ops/attention.h"

#include <cmath>
#include <cstring>
#include <optional>
#include <vector>

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

// Per-sequence key counts when some sequence of a padded batch is shorter than T, else empty (the
// whole batch goes to the kernel in one call).
std::vector<int64_t> key_counts(const Tensor& lengths, int64_t B, int64_t T, bool causal, const char* op) {
  if (!lengths.defined()) return {};
  check_dtype(lengths, DType::I32, op, "key_lengths");
  if (lengths.numel() != B)
    throw ShapeError(std::string(op) + ": key_lengths has " + std::to_string(lengths.numel()) + " entries for a batch of " + std::to_string(B));
  if (causal) throw ValueError(std::string(op) + ": key_lengths is for bidirectional attention (causal masking already hides right padding)");
  std::vector<int64_t> out(static_cast<size_t>(B));
  bool padded = false;
  const std::vector<int32_t> v = lengths.to_int_vector();
  for (int64_t b = 0; b < B; ++b) {
    if (v[static_cast<size_t>(b)] < 1 || v[static_cast<size_t>(b)] > T)
      throw ValueError(std::string(op) + ": sequence " + std::to_string(b) + " has length " + std::to_string(v[static_cast<size_t>(b)]) +
                       ", outside [1, " + std::to_string(T) + "]");
    out[static_cast<size_t>(b)] = v[static_cast<size_t>(b)];
    padded |= out[static_cast<size_t>(b)] < T;
  }
  return padded ? out : std::vector<int64_t>{};
}

// Sequence b of a batched view.
template <typename T>
HeadsView<T> at_batch(HeadsView<T> v, int64_t b) {
  return {v.data + b * v.batch_stride, v.batch_stride, v.token_stride, v.head_stride};
}

// The kernels over a batch whose sequence b attends to its first kv_lens[b] keys (every key when
// kv_lens is empty): one call, or one per sequence. lse is (B, Hq, T).
void forward_kernel(const kernels::AttentionDims& dims, const std::vector<int64_t>& kv_lens, HeadsView<const float> q,
                    HeadsView<const float> k, HeadsView<const float> v, HeadsView<float> out, float* lse) {
  if (kv_lens.empty()) return kernels::attention_forward(dims, q, k, v, out, lse);
  for (int64_t b = 0; b < dims.batch; ++b) {
    kernels::AttentionDims d = dims;
    d.batch = 1, d.kv_len = kv_lens[static_cast<size_t>(b)];
    kernels::attention_forward(d, at_batch(q, b), at_batch(k, b), at_batch(v, b), at_batch(out, b),
                               lse ? lse + b * dims.n_heads * dims.q_len : nullptr);
  }
}

void backward_kernel(const kernels::AttentionDims& dims, const std::vector<int64_t>& kv_lens, HeadsView<const float> q,
                     HeadsView<const float> k, HeadsView<const float> v, HeadsView<const float> out, HeadsView<const float> dout,
                     const float* lse, HeadsView<float> dq, HeadsView<float> dk, HeadsView<float> dv) {
  if (kv_lens.empty()) return kernels::attention_backward(dims, q, k, v, out, dout, lse, dq, dk, dv);
  for (int64_t b = 0; b < dims.batch; ++b) {
    kernels::AttentionDims d = dims;
    d.batch = 1, d.kv_len = kv_lens[static_cast<size_t>(b)];
    kernels::attention_backward(d, at_batch(q, b), at_batch(k, b), at_batch(v, b), at_batch(out, b), at_batch(dout, b),
                                lse + b * dims.n_heads * dims.q_len, at_batch(dq, b), at_batch(dk, b), at_batch(dv, b));
  }
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
  // A padded batch runs sequence by sequence: all T queries of sequence b against its first
  // kv_len = length(b) keys (without a causal mask, q_len and kv_len are independent).
  const std::vector<int64_t> kv_lens = key_counts(cfg.key_lengths, B, T, cfg.causal, op);

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
  const auto o_view = heads(out.data<float>(), T, Hq * D, D, 0);
  forward_kernel(dims, kv_lens, q, k, v, o_view, grad ? lse.data<float>() : nullptr);

  if (grad) {
    const RopeCache* rope = cfg.rope;
    const Tensor o = out.detach();
    autograd::record(op, {qkv}, out, [x, qk, o, lse, dims, rope, row, kv_lens](const Tensor& g, autograd::GradSink& sink) {
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
      const auto qv = heads(qk_base, T, qk_row, D, 0), kk = heads(qk_base, T, qk_row, D, Hq);
      const auto vv = heads<const float>(x.data<float>(), T, row, D, Hq + Hkv);
      const auto ov = heads<const float>(o.data<float>(), T, Hq * D, D, 0);
      const auto gv = heads<const float>(g.data<float>(), T, Hq * D, D, 0);
      const auto dq = heads(dq_base, T, dq_row, D, 0), dk = heads(dq_base, T, dq_row, D, Hq);
      const auto dv = heads(dst.data<float>(), T, row, D, Hq + Hkv);
      backward_kernel(dims, kv_lens, qv, kk, vv, ov, gv, lse.data<float>(), dq, dk, dv);
      if (!kv_lens.empty()) {
        for (int64_t b = 0; b < B; ++b) {
          // Padding keys take no part: their dk, dv are zero (the kernel writes only the first kv_len).
          for (int64_t t = kv_lens[static_cast<size_t>(b)]; t < T; ++t) {
            std::memset(dk.data + b * dk.batch_stride + t * dk.token_stride, 0, static_cast<size_t>(Hkv * D) * sizeof(float));
            std::memset(dv.data + b * dv.batch_stride + t * dv.token_stride, 0, static_cast<size_t>(Hkv * D) * sizeof(float));
          }
        }
      }
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

Tensor cross_attention(const Tensor& q_in, const Tensor& kv_in, const CrossAttentionConfig& cfg) {
  profiler::Scope profile("cross_attention");
  const char* op = "cross_attention";
  check_dtype(q_in, DType::F32, op, "q");
  check_dtype(kv_in, DType::F32, op, "kv");
  check_ndim(q_in, 3, op, "q");
  check_ndim(kv_in, 3, op, "kv");
  const int64_t Hq = cfg.n_heads, Hkv = cfg.n_kv_heads, D = cfg.head_dim;
  if (Hq <= 0 || Hkv <= 0 || D <= 0 || Hq % Hkv != 0)
    throw ValueError("cross_attention: n_heads " + std::to_string(Hq) + " must be a positive multiple of n_kv_heads " +
                     std::to_string(Hkv) + " (head_dim " + std::to_string(D) + ")");
  const int64_t B = q_in.size(0), T = q_in.size(1), S = kv_in.size(1), qw = Hq * D, kvw = 2 * Hkv * D;
  if (q_in.size(2) != qw)
    throw ShapeError("cross_attention: q " + q_in.shape().str() + " should have last dimension n_heads * head_dim = " + std::to_string(qw));
  if (kv_in.size(0) != B || kv_in.size(2) != kvw)
    throw ShapeError("cross_attention: kv " + kv_in.shape().str() + " should be (" + std::to_string(B) + ", S, " + std::to_string(kvw) +
                     ") for q " + q_in.shape().str() + " (batch, positions, 2 * n_kv_heads * head_dim)");
  if (T == 0 || S == 0) throw ShapeError("cross_attention: empty sequences (q " + q_in.shape().str() + ", kv " + kv_in.shape().str() + ")");

  const Tensor q = q_in.contiguous(), kv = kv_in.contiguous();
  kernels::AttentionDims dims;
  dims.batch = B, dims.q_len = T, dims.kv_len = S, dims.n_heads = Hq, dims.n_kv_heads = Hkv, dims.head_dim = D;
  dims.scale = 1.0f / std::sqrt(static_cast<float>(D));
  dims.causal = false;
  const std::vector<int64_t> kv_lens = key_counts(cfg.key_lengths, B, S, false, op);

  const auto qv = heads<const float>(q.data<float>(), T, qw, D, 0);
  const auto kk = heads<const float>(kv.data<float>(), S, kvw, D, 0);
  const auto vv = heads<const float>(kv.data<float>(), S, kvw, D, Hkv);
  Tensor out = Tensor::empty({B, T, qw});
  const bool grad = autograd::needs_grad({q_in, kv_in});
  Tensor lse = grad ? Tensor::empty({B, Hq, T}) : Tensor();
  const auto o_view = heads(out.data<float>(), T, qw, D, 0);
  forward_kernel(dims, kv_lens, qv, kk, vv, o_view, grad ? lse.data<float>() : nullptr);

  if (grad) {
    const Tensor o = out.detach();
    autograd::record(op, {q_in, kv_in}, out, [q, kv, o, lse, dims, kv_lens](const Tensor& g, autograd::GradSink& sink) {
      const int64_t B = dims.batch, T = dims.q_len, S = dims.kv_len, Hq = dims.n_heads, Hkv = dims.n_kv_heads, D = dims.head_dim;
      const int64_t qw = Hq * D, kvw = 2 * Hkv * D;
      // The kernel writes dq and dk|dv together: straight into fresh gradient buffers, else into
      // scratch that is added (or dropped, for an input that needs no gradient).
      std::optional<autograd::GradSink::Buffer> bq, bkv;
      if (sink.needs(0)) bq = sink.buffer(0);
      if (sink.needs(1)) bkv = sink.buffer(1);
      const Tensor dq_t = bq && bq->fresh ? bq->tensor : Tensor::empty({B, T, qw});
      const Tensor dkv_t = bkv && bkv->fresh ? bkv->tensor : Tensor::empty({B, S, kvw});
      const auto qv = heads<const float>(q.data<float>(), T, qw, D, 0);
      const auto kk = heads<const float>(kv.data<float>(), S, kvw, D, 0);
      const auto vv = heads<const float>(kv.data<float>(), S, kvw, D, Hkv);
      const auto ov = heads<const float>(o.data<float>(), T, qw, D, 0);
      const auto gv = heads<const float>(g.data<float>(), T, qw, D, 0);
      const auto dq = heads(dq_t.data<float>(), T, qw, D, 0);
      const auto dk = heads(dkv_t.data<float>(), S, kvw, D, 0), dv = heads(dkv_t.data<float>(), S, kvw, D, Hkv);
      backward_kernel(dims, kv_lens, qv, kk, vv, ov, gv, lse.data<float>(), dq, dk, dv);
      // Padding keys take no part: their rows of dk|dv are zero (the kernel writes the first kv_len).
      for (int64_t b = 0; b < static_cast<int64_t>(kv_lens.size()); ++b)
        for (int64_t t = kv_lens[static_cast<size_t>(b)]; t < S; ++t)
          std::memset(dkv_t.data<float>() + (b * S + t) * kvw, 0, static_cast<size_t>(kvw) * sizeof(float));
      if (bq && !bq->fresh) kernels::add(bq->data(), dq_t.data<float>(), dq_t.numel(), bq->data());
      if (bkv && !bkv->fresh) kernels::add(bkv->data(), dkv_t.data<float>(), dkv_t.numel(), bkv->data());
    });
  }
  return out;
}

}  // namespace cornerstone::ops

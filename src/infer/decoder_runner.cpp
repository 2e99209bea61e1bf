#include "cornerstone/infer/decoder_runner.h"

#include <cmath>
#include <cstring>
#include <string>

#include "cornerstone/core/error.h"
#include "cornerstone/core/profiler.h"
#include "cornerstone/kernels/activation.h"
#include "cornerstone/kernels/attention.h"
#include "cornerstone/kernels/elementwise.h"
#include "cornerstone/kernels/norm.h"
#include "cornerstone/kernels/rope.h"

namespace cornerstone::infer {

namespace {

// A buffer of at least n floats (kept when large enough).
float* ensure(Tensor& t, int64_t n) {
  if (!t.defined() || t.numel() < n) t = Tensor::empty({n});
  return t.data<float>();
}

const float* ptr(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

void norm(const models::DecoderConfig& c, const float* x, const Tensor& w, const Tensor& b, int64_t rows, float* y) {
  if (c.arch == models::DecoderArch::GPT2)
    kernels::layernorm_forward(x, ptr(w), ptr(b), rows, c.d_model, c.norm_eps, y, nullptr, nullptr);
  else
    kernels::rmsnorm_forward(x, ptr(w), rows, c.d_model, c.norm_eps, y, nullptr);
}

void linear(const QuantLinear& l, const float* x, int64_t rows, float* y) {
  profiler::Scope prof("linear (packed)");
  l.forward(x, rows, l.in_features(), y, l.out_features());
}

}  // namespace

DecoderRunner::DecoderRunner(const InferenceWeights& weights) : weights_(weights) {}

int64_t DecoderRunner::run_layers(KVCache& cache, const std::vector<SeqChunk>& chunks) {
  const models::DecoderConfig& c = weights_.config();
  const int64_t Hq = c.n_heads, Hkv = c.n_kv_heads, D = c.head_dim(), C = c.d_model;
  const int64_t W = (Hq + 2 * Hkv) * D, kvw = Hkv * D;
  if (chunks.empty()) throw ValueError("decoder: no sequences to run");
  if (cache.row_width() != kvw) throw ShapeError("decoder: the KV cache was made for another model");

  // Rows of all chunks, with their token ids and absolute positions.
  int64_t R = 0;
  for (const SeqChunk& ch : chunks) {
    if (ch.tokens.empty()) throw ValueError("decoder: slot " + std::to_string(ch.slot) + " has no new tokens");
    const int64_t end = cache.length(ch.slot) + static_cast<int64_t>(ch.tokens.size());
    const int64_t limit = std::min(cache.max_len(), c.context);
    if (end > limit)
      throw ShapeError("decoder: sequence in slot " + std::to_string(ch.slot) + " would reach " + std::to_string(end) +
                       " positions, beyond " + (limit == c.context ? "the model's context" : "the cache") + " of " +
                       std::to_string(limit));
    for (int32_t t : ch.tokens)
      if (t < 0 || t >= c.vocab_size)
        throw ValueError("decoder: token id " + std::to_string(t) + " outside the vocabulary of " + std::to_string(c.vocab_size));
    R += static_cast<int64_t>(ch.tokens.size());
  }
  const int64_t up_w = weights_.layers().front().up.out_features(), F = c.d_ff;
  float* x = ensure(x_, R * C);
  float* h = ensure(h_, R * C);
  float* qkv = ensure(qkv_, R * W);
  float* att = ensure(att_, R * Hq * D);
  float* up = ensure(up_, R * up_w);
  float* act = ensure(act_, R * F);

  // Token (+ position) embeddings.
  {
    int64_t row = 0;
    const float* wpe = ptr(weights_.position_embedding());
    for (const SeqChunk& ch : chunks)
      for (size_t i = 0; i < ch.tokens.size(); ++i, ++row) {
        weights_.token_embedding().row(ch.tokens[i], x + row * C);
        if (wpe) kernels::add(x + row * C, wpe + (cache.length(ch.slot) + static_cast<int64_t>(i)) * C, C, x + row * C);
      }
  }

  kernels::AttentionDims dims;
  dims.batch = 1, dims.n_heads = Hq, dims.n_kv_heads = Hkv, dims.head_dim = D, dims.causal = true;
  dims.scale = 1.0f / std::sqrt(static_cast<float>(D));
  const bool gpt2 = c.arch == models::DecoderArch::GPT2;
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const DecoderLayerWeights& L = weights_.layers()[static_cast<size_t>(l)];
    norm(c, x, L.norm1_weight, L.norm1_bias, R, h);
    linear(L.qkv, h, R, qkv);
    int64_t row = 0;
    for (const SeqChunk& ch : chunks) {
      const int64_t n = static_cast<int64_t>(ch.tokens.size()), start = cache.length(ch.slot);
      float* qrow = qkv + row * W;
      if (const ops::RopeCache* rope = weights_.rope())  // q and k heads are adjacent: rotate them as one
        kernels::rope_apply(rope->table(), {qrow, 0, W, D}, 1, n, Hq + Hkv, D, start, false);
      float* kc = cache.keys(l, ch.slot);
      float* vc = cache.values(l, ch.slot);
      for (int64_t t = 0; t < n; ++t) {
        std::memcpy(kc + (start + t) * kvw, qrow + t * W + Hq * D, static_cast<size_t>(kvw) * sizeof(float));
        std::memcpy(vc + (start + t) * kvw, qrow + t * W + (Hq + Hkv) * D, static_cast<size_t>(kvw) * sizeof(float));
      }
      dims.q_len = n, dims.kv_len = start + n;
      profiler::Scope prof("attention (cached)");
      kernels::attention_forward(dims, {qrow, 0, W, D}, {kc, 0, kvw, D}, {vc, 0, kvw, D}, {att + row * Hq * D, 0, Hq * D, D},
                                 nullptr);
      row += n;
    }
    linear(L.proj, att, R, h);
    kernels::add(x, h, R * C, x);
    norm(c, x, L.norm2_weight, L.norm2_bias, R, h);
    linear(L.up, h, R, up);
    if (gpt2)
      kernels::gelu_forward(kernels::GeluKind::Tanh, up, R * F, act);
    else
      kernels::swiglu_forward(up, R, F, act);
    linear(L.down, act, R, h);
    kernels::add(x, h, R * C, x);
  }
  for (const SeqChunk& ch : chunks) cache.set_length(ch.slot, cache.length(ch.slot) + static_cast<int64_t>(ch.tokens.size()));
  return R;
}

Tensor DecoderRunner::logits(const float* hidden, int64_t rows) {
  const models::DecoderConfig& c = weights_.config();
  float* h = ensure(h_, rows * c.d_model);
  norm(c, hidden, weights_.norm_f_weight(), weights_.norm_f_bias(), rows, h);
  Tensor out = Tensor::empty({rows, c.vocab_size});
  linear(weights_.lm_head(), h, rows, out.data<float>());
  return out;
}

Tensor DecoderRunner::forward(KVCache& cache, const std::vector<SeqChunk>& chunks) {
  run_layers(cache, chunks);
  // Only the last new row of each sequence needs logits: gather them to the front of x.
  const int64_t C = weights_.config().d_model;
  float* x = x_.data<float>();
  int64_t row = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    row += static_cast<int64_t>(chunks[i].tokens.size());
    if (row - 1 != static_cast<int64_t>(i)) std::memmove(x + static_cast<int64_t>(i) * C, x + (row - 1) * C, static_cast<size_t>(C) * sizeof(float));
  }
  return logits(x, static_cast<int64_t>(chunks.size()));
}

Tensor DecoderRunner::forward_all(KVCache& cache, const std::vector<SeqChunk>& chunks) {
  const int64_t R = run_layers(cache, chunks);
  return logits(x_.data<float>(), R);
}

}  // namespace cornerstone::infer

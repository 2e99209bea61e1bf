#include "cornerstone/infer/decoder_runner.h"

#include <cmath>
#include <cstring>

#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/profiler.h"
#include "cornerstone/kernels/attention.h"
#include "cornerstone/kernels/rope.h"
#include "cornerstone/ops/activation.h"
#include "cornerstone/ops/elementwise.h"
#include "cornerstone/ops/embedding.h"
#include "cornerstone/ops/linear.h"
#include "cornerstone/ops/norm.h"

namespace cornerstone::infer {

namespace {

Tensor param_or_empty(const models::GPT& m, const std::string& name) {
  for (const auto& [n, t] : m.named_parameters())
    if (n == name) return t.detach();
  return Tensor();
}

Tensor norm(const models::DecoderConfig& c, const Tensor& x, const Tensor& w, const Tensor& b) {
  return c.arch == models::DecoderArch::GPT2 ? ops::layer_norm(x, w, b, c.norm_eps) : ops::rms_norm(x, w, c.norm_eps);
}

}  // namespace

DecoderRunner::DecoderRunner(const models::GPT& model) : model_(model) {}

Tensor DecoderRunner::forward(KVCache& cache, const std::vector<SeqChunk>& chunks) const {
  autograd::NoGradGuard no_grad;
  const models::DecoderConfig& c = model_.config();
  const int64_t Hq = c.n_heads, Hkv = c.n_kv_heads, D = c.head_dim(), C = c.d_model;
  const int64_t W = (Hq + 2 * Hkv) * D, kvw = Hkv * D;
  if (chunks.empty()) throw ValueError("decoder: no sequences to run");

  // Rows of all chunks, with their token ids and absolute positions.
  std::vector<int32_t> ids, pos;
  for (const SeqChunk& ch : chunks) {
    if (ch.tokens.empty()) throw ValueError("decoder: slot " + std::to_string(ch.slot) + " has no new tokens");
    const int64_t start = cache.length(ch.slot), end = start + static_cast<int64_t>(ch.tokens.size());
    const int64_t limit = std::min(cache.max_len(), c.context);
    if (end > limit)
      throw ShapeError("decoder: sequence in slot " + std::to_string(ch.slot) + " would reach " + std::to_string(end) +
                       " positions, beyond " + (limit == c.context ? "the model's context" : "the cache") + " of " +
                       std::to_string(limit));
    for (size_t i = 0; i < ch.tokens.size(); ++i) {
      if (ch.tokens[i] < 0 || ch.tokens[i] >= c.vocab_size)
        throw ValueError("decoder: token id " + std::to_string(ch.tokens[i]) + " outside the vocabulary of " +
                         std::to_string(c.vocab_size));
      ids.push_back(ch.tokens[i]);
      pos.push_back(static_cast<int32_t>(start + static_cast<int64_t>(i)));
    }
  }
  const int64_t R = static_cast<int64_t>(ids.size());
  const Tensor id_t = Tensor::from_data({R}, ids);
  Tensor x = ops::embedding(model_.parameter("wte.weight").detach(), id_t);  // (R, C)
  if (c.learned_positions())
    x = ops::add(x, ops::embedding(model_.parameter("wpe.weight").detach(), Tensor::from_data({R}, pos)));

  kernels::AttentionDims dims;
  dims.batch = 1, dims.n_heads = Hq, dims.n_kv_heads = Hkv, dims.head_dim = D, dims.causal = true;
  dims.scale = 1.0f / std::sqrt(static_cast<float>(D));
  const bool gpt2 = c.arch == models::DecoderArch::GPT2;
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string p = "blocks." + std::to_string(l) + ".";
    auto P = [&](const std::string& n) { return param_or_empty(model_, p + n); };
    Tensor qkv = ops::linear(norm(c, x, P("norm1.weight"), P("norm1.bias")), P("attn.qkv.weight"), P("attn.qkv.bias"));
    Tensor att = Tensor::empty({R, Hq * D});
    float* q = qkv.data<float>();
    int64_t row = 0;
    for (const SeqChunk& ch : chunks) {
      const int64_t n = static_cast<int64_t>(ch.tokens.size()), start = cache.length(ch.slot);
      float* qrow = q + row * W;
      if (const ops::RopeCache* rope = model_.rope())  // q and k heads are adjacent: rotate them as one
        kernels::rope_apply(rope->table(), {qrow, 0, W, D}, 1, n, Hq + Hkv, D, start, false);
      float* kc = cache.keys(l, ch.slot);
      float* vc = cache.values(l, ch.slot);
      for (int64_t t = 0; t < n; ++t) {
        std::memcpy(kc + (start + t) * kvw, qrow + t * W + Hq * D, static_cast<size_t>(kvw) * sizeof(float));
        std::memcpy(vc + (start + t) * kvw, qrow + t * W + (Hq + Hkv) * D, static_cast<size_t>(kvw) * sizeof(float));
      }
      dims.q_len = n, dims.kv_len = start + n;
      profiler::Scope prof("attention (cached)");
      kernels::attention_forward(dims, {qrow, 0, W, D}, {kc, 0, kvw, D}, {vc, 0, kvw, D},
                                 {att.data<float>() + row * Hq * D, 0, Hq * D, D}, nullptr);
      row += n;
    }
    x = ops::add(x, ops::linear(att, P("attn.proj.weight"), P("attn.proj.bias")));
    const Tensor h = norm(c, x, P("norm2.weight"), P("norm2.bias"));
    const Tensor u = gpt2 ? ops::linear(h, P("mlp.fc.weight"), P("mlp.fc.bias")) : ops::linear(h, P("mlp.gate_up.weight"));
    x = ops::add(x, gpt2 ? ops::linear(ops::gelu(u, ops::GeluKind::Tanh), P("mlp.proj.weight"), P("mlp.proj.bias"))
                         : ops::linear(ops::swiglu(u), P("mlp.down.weight")));
  }
  // Only the last new row of each sequence needs logits.
  Tensor last = Tensor::empty({static_cast<int64_t>(chunks.size()), C});
  int64_t row = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    row += static_cast<int64_t>(chunks[i].tokens.size());
    std::memcpy(last.data<float>() + static_cast<int64_t>(i) * C, x.data<float>() + (row - 1) * C,
                static_cast<size_t>(C) * sizeof(float));
  }
  const Tensor h = norm(c, last, param_or_empty(model_, "norm_f.weight"), param_or_empty(model_, "norm_f.bias"));
  for (const SeqChunk& ch : chunks) cache.set_length(ch.slot, cache.length(ch.slot) + static_cast<int64_t>(ch.tokens.size()));
  return ops::linear(h, model_.lm_head_weight().detach());
}

}  // namespace cornerstone::infer

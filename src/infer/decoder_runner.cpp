#include "cornerstone/infer/decoder_runner.h"

#include <cmath>
#include <cstring>
#include <string>

#include <omp.h>

#include <algorithm>

#include "cornerstone/core/error.h"
#include "cornerstone/core/parallel.h"
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


// Rows [r.begin, r.end) of the (rows, C) x normalised into the same rows of y, by the blocks' norm kind.
void norm_rows(const nn::BlockConfig& c, const float* x, const Tensor& w, const Tensor& b, Range r, float* y) {
  const int64_t C = c.d_model, n = r.end - r.begin;
  if (n <= 0) return;
  if (c.norm == nn::NormKind::LayerNorm)
    kernels::layernorm_forward(x + r.begin * C, ptr(w), ptr(b), n, C, c.norm_eps, y + r.begin * C, nullptr, nullptr);
  else
    kernels::rmsnorm_forward(x + r.begin * C, ptr(w), n, C, c.norm_eps, y + r.begin * C, nullptr);
}

// x[r] += y[r] for the rows of r.
void add_rows(float* x, const float* y, int64_t C, Range r) {
  if (r.end > r.begin) kernels::add(x + r.begin * C, y + r.begin * C, (r.end - r.begin) * C, x + r.begin * C);
}

}  // namespace

DecoderRunner::DecoderRunner(const InferenceWeights& weights) : weights_(weights) {}

int32_t DecoderRunner::add_lora(LoRADeltas deltas) {
  deltas.check(weights_);
  loras_.push_back(std::move(deltas));
  return static_cast<int32_t>(loras_.size() - 1);
}

Tensor DecoderRunner::run(KVCache& cache, const std::vector<SeqChunk>& chunks, bool all_rows) {
  // Everything about the architecture comes from the stack's block spec (models/decoder_stack.h).
  const models::DecoderStack& stack = weights_.config();
  const nn::BlockConfig& c = stack.block;
  const int64_t Hq = c.n_heads, Hkv = c.n_kv_heads, D = c.head_dim, C = c.d_model, V = stack.vocab_size;
  const int64_t W = (Hq + 2 * Hkv) * D, kvw = Hkv * D, G = Hq / Hkv;
  if (chunks.empty()) throw ValueError("decoder: no sequences to run");
  if (cache.row_width() != kvw) throw ShapeError("decoder: the KV cache was made for another model");

  // Every check before the parallel region: nothing may throw inside it.
  const int64_t n_chunks = static_cast<int64_t>(chunks.size());
  std::vector<int64_t> first(chunks.size() + 1, 0), start(chunks.size());  // row offsets, cached lengths
  for (size_t i = 0; i < chunks.size(); ++i) {
    const SeqChunk& ch = chunks[i];
    if (ch.tokens.empty()) throw ValueError("decoder: slot " + std::to_string(ch.slot) + " has no new tokens");
    start[i] = cache.length(ch.slot);
    const int64_t end = start[i] + static_cast<int64_t>(ch.tokens.size());
    const int64_t limit = std::min(cache.max_len(), stack.context);
    if (end > limit)
      throw ShapeError("decoder: sequence in slot " + std::to_string(ch.slot) + " would reach " + std::to_string(end) +
                       " positions, beyond " + (limit == stack.context ? "the model's context" : "the cache") + " of " +
                       std::to_string(limit));
    for (size_t j = 0; j < i; ++j)
      if (chunks[j].slot == ch.slot) throw ValueError("decoder: slot " + std::to_string(ch.slot) + " appears twice in one call");
    if (ch.lora < -1 || ch.lora >= lora_count())
      throw ValueError("decoder: slot " + std::to_string(ch.slot) + " asks for LoRA adapter " + std::to_string(ch.lora) + " of " +
                       std::to_string(lora_count()));
    for (int32_t t : ch.tokens)
      if (t < 0 || t >= V) throw ValueError("decoder: token id " + std::to_string(t) + " outside the vocabulary of " + std::to_string(V));
    first[i + 1] = first[i] + static_cast<int64_t>(ch.tokens.size());
  }
  const int64_t R = first.back(), out_rows = all_rows ? R : n_chunks;
  const int64_t up_w = weights_.layers().front().up.out_features(), F = c.d_ff;
  float* x = ensure(x_, R * C);
  float* h = ensure(h_, R * C);
  float* qkv = ensure(qkv_, R * W);
  float* att = ensure(att_, R * Hq * D);
  float* up = ensure(up_, R * up_w);
  float* act = ensure(act_, R * F);
  size_t scratch_bytes = 0;
  for (const QuantLinear* l : {&weights_.layers().front().qkv, &weights_.layers().front().proj, &weights_.layers().front().down,
                               &weights_.lm_head()})
    scratch_bytes = std::max(scratch_bytes, kernels::packed_matmul_scratch(l->format(), R, l->in_features()));
  if (!scratch_.defined() || static_cast<size_t>(scratch_.numel()) < scratch_bytes)
    scratch_ = Tensor::empty({static_cast<int64_t>(scratch_bytes)}, DType::U8);
  void* scratch = scratch_.raw_data();
  Tensor logits = Tensor::empty({out_rows, V});
  // Each row's adapter (-1: none), and a rank-sized buffer per thread for the adapters' products.
  std::vector<int32_t> row_lora;
  int64_t rank = 0;
  for (size_t i = 0; i < chunks.size(); ++i)
    if (chunks[i].lora >= 0) {
      if (row_lora.empty()) row_lora.assign(static_cast<size_t>(R), -1);
      std::fill(row_lora.begin() + first[i], row_lora.begin() + first[i + 1], chunks[i].lora);
      rank = std::max(rank, loras_[static_cast<size_t>(chunks[i].lora)].max_rank());
    }
  float* lora_tmp = row_lora.empty() ? nullptr : ensure(lora_tmp_, std::max<int64_t>(rank, 1) * num_threads());

  // Small models: the barriers would cost more than the work they share.
  const double macs = static_cast<double>(R) * static_cast<double>(weights_.decode_bytes());
  const int threads = macs < 4e6 ? 1 : num_threads();
  const bool gelu = c.mlp == nn::MlpKind::Gelu;
  const float* wpe = ptr(weights_.position_embedding());
  kernels::AttentionDims dims;
  dims.batch = 1, dims.n_heads = G, dims.n_kv_heads = 1, dims.head_dim = D, dims.causal = true;
  dims.scale = 1.0f / std::sqrt(static_cast<float>(D));

  // One OpenMP region runs the whole pass. Each op splits its work between the team's threads
  // (rows, elements, attention heads or panels) and they meet at a barrier before the next op
  // reads its result: one region per pass instead of one per op (a decode step has ~60 ops).
  // Kernels called on a share run on the calling thread (nested regions are inactive).
  SpinBarrier barrier(threads);
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const Team team = Team::of_region(barrier);
    auto linear = [&](const QuantLinear& l, const float* in, int64_t rows, float* out) {
      profiler::Scope prof(team.id == 0 ? "linear (packed)" : nullptr);
      kernels::packed_matmul_team(l.view(), in, rows, l.in_features(), ptr(l.bias()), out, l.out_features(), scratch, team);
    };
    // The adapters' products added to this thread's rows of a projection's output (complete: the
    // packed matmul returns once it is), then a barrier: the next op may read any row.
    auto lora = [&](std::vector<LoRATerm> LoRALayerTerms::*which, int64_t layer, const float* in, int64_t ldin, float* out,
                    int64_t ldout) {
      if (row_lora.empty()) return;
      const Range mine = team.share(R);
      for (int64_t r = mine.begin; r < mine.end; ++r)
        if (const int32_t a = row_lora[static_cast<size_t>(r)]; a >= 0)
          apply_lora_terms(loras_[static_cast<size_t>(a)].layers[static_cast<size_t>(layer)].*which, in + r * ldin, out + r * ldout,
                           lora_tmp + team.id * std::max<int64_t>(rank, 1));
      team.sync();
    };
    // Token (+ position) embeddings, then the first norm, on this thread's rows.
    const Range rows = team.share(R);
    for (int64_t i = 0, r = 0; i < n_chunks; ++i)
      for (int64_t t = 0; t < first[i + 1] - first[i]; ++t, ++r) {
        if (r < rows.begin || r >= rows.end) continue;
        weights_.token_embedding().row(chunks[static_cast<size_t>(i)].tokens[static_cast<size_t>(t)], x + r * C);
        if (wpe) kernels::add(x + r * C, wpe + (start[static_cast<size_t>(i)] + t) * C, C, x + r * C);
      }
    norm_rows(c, x, weights_.layers().front().norm1_weight, weights_.layers().front().norm1_bias, rows, h);
    team.sync();
    for (int64_t l = 0; l < stack.n_layers; ++l) {
      const DecoderLayerWeights& L = weights_.layers()[static_cast<size_t>(l)];
      linear(L.qkv, h, R, qkv);
      lora(&LoRALayerTerms::qkv, l, h, C, qkv, W);
      // Rotary positions and the cache append, a sequence per thread.
      for (int64_t i = team.id; i < n_chunks; i += team.size) {
        const int64_t n = first[i + 1] - first[i], s0 = start[static_cast<size_t>(i)], slot = chunks[static_cast<size_t>(i)].slot;
        float* qrow = qkv + first[i] * W;
        if (const ops::RopeCache* rope = weights_.rope())  // q and k heads are adjacent: rotate them as one
          kernels::rope_apply(rope->table(), {qrow, 0, W, D}, 1, n, Hq + Hkv, D, s0, false);
        float* kc = cache.keys(l, slot);
        float* vc = cache.values(l, slot);
        for (int64_t t = 0; t < n; ++t) {
          std::memcpy(kc + (s0 + t) * kvw, qrow + t * W + Hq * D, static_cast<size_t>(kvw) * sizeof(float));
          std::memcpy(vc + (s0 + t) * kvw, qrow + t * W + (Hq + Hkv) * D, static_cast<size_t>(kvw) * sizeof(float));
        }
      }
      team.sync();
      // Attention: one task per (sequence, kv head), each against its own cache.
      {
        profiler::Scope prof(team.id == 0 ? "attention (cached)" : nullptr);
        for (int64_t task = team.id; task < n_chunks * Hkv; task += team.size) {
          const int64_t i = task / Hkv, g = task % Hkv, n = first[i + 1] - first[i], slot = chunks[static_cast<size_t>(i)].slot;
          kernels::AttentionDims d = dims;
          d.q_len = n, d.kv_len = start[static_cast<size_t>(i)] + n;
          const float* qrow = qkv + first[i] * W + g * G * D;
          kernels::attention_forward(d, {qrow, 0, W, D}, {cache.keys(l, slot) + g * D, 0, kvw, D},
                                     {cache.values(l, slot) + g * D, 0, kvw, D}, {att + first[i] * Hq * D + g * G * D, 0, Hq * D, D},
                                     nullptr);
        }
      }
      team.sync();
      linear(L.proj, att, R, h);
      lora(&LoRALayerTerms::proj, l, att, Hq * D, h, C);
      add_rows(x, h, C, rows);
      norm_rows(c, x, L.norm2_weight, L.norm2_bias, rows, h);
      team.sync();
      linear(L.up, h, R, up);
      lora(&LoRALayerTerms::up, l, h, C, up, up_w);
      if (rows.end > rows.begin) {
        if (gelu)
          kernels::gelu_forward(c.gelu, up + rows.begin * F, (rows.end - rows.begin) * F, act + rows.begin * F);
        else
          kernels::swiglu_forward(up + rows.begin * up_w, rows.end - rows.begin, F, act + rows.begin * F);
      }
      team.sync();
      linear(L.down, act, R, h);
      lora(&LoRALayerTerms::down, l, act, F, h, C);
      add_rows(x, h, C, rows);
      if (l + 1 < stack.n_layers) {
        const DecoderLayerWeights& next = weights_.layers()[static_cast<size_t>(l + 1)];
        norm_rows(c, x, next.norm1_weight, next.norm1_bias, rows, h);
      }
      team.sync();
    }
    // The final norm of the rows that need logits (each sequence's last row, or all), then the head.
    if (all_rows) {
      norm_rows(c, x, weights_.norm_f_weight(), weights_.norm_f_bias(), rows, h);
    } else {  // row i of h: the last row of sequence i
      const Range mine = team.share(n_chunks);
      for (int64_t i = mine.begin; i < mine.end; ++i)
        norm_rows(c, x + (first[i + 1] - 1) * C, weights_.norm_f_weight(), weights_.norm_f_bias(), {0, 1}, h + i * C);
    }
    team.sync();
    linear(weights_.lm_head(), h, out_rows, logits.data<float>());
  }
  for (const SeqChunk& ch : chunks) cache.set_length(ch.slot, cache.length(ch.slot) + static_cast<int64_t>(ch.tokens.size()));
  return logits;
}

Tensor DecoderRunner::forward(KVCache& cache, const std::vector<SeqChunk>& chunks) { return run(cache, chunks, false); }

Tensor DecoderRunner::forward_all(KVCache& cache, const std::vector<SeqChunk>& chunks) { return run(cache, chunks, true); }

}  // namespace cornerstone::infer

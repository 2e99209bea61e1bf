#include "cornerstone/adapt/embedding.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/core/error.h"
#include "cornerstone/models/load.h"
#include "cornerstone/ops/elementwise.h"
#include "cornerstone/ops/linear.h"
#include "cornerstone/ops/loss.h"
#include "cornerstone/ops/norm.h"

namespace cornerstone::adapt {

namespace fs = std::filesystem;

Tensor pool(const Tensor& hidden, const Tensor& lengths, Pooling pooling) {
  check_ndim(hidden, 3, "pool", "hidden");
  const int64_t B = hidden.size(0), T = hidden.size(1), C = hidden.size(2);
  if (pooling == Pooling::Cls) return hidden.select(1, 0).contiguous();
  const std::vector<int32_t> len = models::checked_lengths(B, T, lengths, "pool");
  // The masked mean as one product: W (B, B T) holds 1 / length(b) on sequence b's real tokens.
  std::vector<float> w(static_cast<size_t>(B * B * T), 0.0f);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < len[static_cast<size_t>(b)]; ++t)
      w[static_cast<size_t>(b * B * T + b * T + t)] = 1.0f / static_cast<float>(len[static_cast<size_t>(b)]);
  return ops::matmul(Tensor::from_data({B, B * T}, w), hidden.contiguous().view({B * T, C}));
}

Tensor l2_normalize(const Tensor& x) { return ops::l2_normalize(x); }

Tensor embed_batch(const models::PretrainedModel& model, const PaddedBatch& batch, Pooling pooling, Rng* dropout_rng) {
  return pool(model.hidden_states(batch.batch(), dropout_rng), batch.lengths, pooling);
}

Tensor info_nce(const Tensor& queries, const Tensor& documents, float temperature) {
  if (!(temperature > 0)) throw ValueError("info_nce: the temperature must be positive");
  if (queries.ndim() != 2 || documents.ndim() != 2 || documents.size(1) != queries.size(1) || documents.size(0) < queries.size(0))
    throw ShapeError("info_nce: queries " + queries.shape().str() + " need documents (B + M, C) with their positives first, got " +
                     documents.shape().str());
  const int64_t B = queries.size(0);
  const Tensor sim = ops::linear(l2_normalize(queries), l2_normalize(documents));  // (B, B + M) cosine similarities
  std::vector<int32_t> diagonal(static_cast<size_t>(B));
  std::iota(diagonal.begin(), diagonal.end(), 0);
  return ops::cross_entropy(ops::scale(sim, 1.0f / temperature), Tensor::from_data({B}, diagonal));
}

Tensor embed_texts(const models::PretrainedModel& model, const InputFormat& format, const std::vector<std::string>& texts,
                   Pooling pooling, bool normalize, int64_t batch_size) {
  if (pooling == Pooling::Cls && model.text_framing() != models::TextFraming::ClsSep)
    throw ValueError("--pooling cls needs a model whose first token ([CLS]) sees the whole text, an encoder; a " + model.model_type() +
                     " model's first token has seen nothing else: use mean");
  if (batch_size <= 0) throw ValueError("embed: the batch size must be positive");
  autograd::NoGradGuard no_grad;
  std::vector<ModelInput> inputs;
  inputs.reserve(texts.size());
  for (const std::string& t : texts) inputs.push_back(format.text(t));
  // Batches of similar lengths pad less; rows go back to their texts' order.
  std::vector<size_t> order(texts.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return inputs[a].ids.size() < inputs[b].ids.size(); });
  const int64_t C = model.hidden_size();
  Tensor out = Tensor::empty({static_cast<int64_t>(texts.size()), C});
  for (size_t s = 0; s < order.size(); s += static_cast<size_t>(batch_size)) {
    const size_t e = std::min(order.size(), s + static_cast<size_t>(batch_size));
    std::vector<const ModelInput*> batch;
    for (size_t k = s; k < e; ++k) batch.push_back(&inputs[order[k]]);
    Tensor v = embed_batch(model, pad_batch(batch), pooling);
    if (normalize) v = l2_normalize(v);
    const float* src = v.data<float>();
    for (size_t k = s; k < e; ++k) std::copy(src + (k - s) * C, src + (k - s + 1) * C, out.data<float>() + order[k] * C);
  }
  return out;
}

}  // namespace cornerstone::adapt

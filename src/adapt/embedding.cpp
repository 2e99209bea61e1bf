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

Tensor l2_normalize(const Tensor& x) {
  // rms_norm(x) = x / sqrt(mean(x^2)) = sqrt(C) x / ||x||.
  const int64_t C = x.size(-1);
  return ops::scale(ops::rms_norm(x, Tensor(), 1e-12f), 1.0f / std::sqrt(static_cast<float>(C)));
}

Tensor embed_batch(const models::PretrainedModel& model, const PaddedBatch& batch, Pooling pooling, Rng* dropout_rng) {
  return pool(model.hidden_states(batch.ids, batch.lengths, batch.segments, dropout_rng), batch.lengths, pooling);
}

Tensor info_nce(const Tensor& queries, const Tensor& positives, float temperature) {
  if (!(temperature > 0)) throw ValueError("info_nce: the temperature must be positive");
  if (queries.shape() != positives.shape())
    throw ShapeError("info_nce: queries " + queries.shape().str() + " and positives " + positives.shape().str() + " differ");
  const int64_t B = queries.size(0);
  const Tensor sim = ops::linear(l2_normalize(queries), l2_normalize(positives));  // (B, B) cosine similarities
  std::vector<int32_t> diagonal(static_cast<size_t>(B));
  std::iota(diagonal.begin(), diagonal.end(), 0);
  return ops::cross_entropy(ops::scale(sim, 1.0f / temperature), Tensor::from_data({B}, diagonal));
}

Tensor embed_texts(const models::PretrainedModel& model, const InputFormat& format, const std::vector<std::string>& texts,
                   Pooling pooling, bool normalize, int64_t batch_size) {
  if (pooling == Pooling::Cls && !model.is_encoder())
    throw ValueError("--pooling cls needs an encoder (a decoder's first token has seen nothing else); use mean");
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

SentenceEmbedder SentenceEmbedder::load(const std::string& path, int64_t max_length) {
  SentenceEmbedder e;
  if (fs::exists(fs::path(path) / "task.json")) {
    const TaskModel m = TaskModel::load(path);
    if (m.spec().task != Task::Contrastive && m.spec().task != Task::Classify && m.spec().task != Task::Tag)
      throw ValueError("'" + path + "' is a " + task_name(m.spec().task) + " model; embeddings come from a base model or a contrastive fine-tune");
    e.model_ = m.base_ptr();
    if (m.spec().task == Task::Contrastive) e.pooling_ = m.spec().pooling;  // a classifier's pooling is its head's
  } else {
    e.model_ = models::load_model(path);
  }
  const std::string tok = models::find_tokenizer(path);
  if (tok.empty()) throw IOError("model '" + path + "' has no tokenizer.json beside it");
  const int64_t limit = e.model_->max_positions();
  if (max_length > limit)
    throw ValueError("--max-length " + std::to_string(max_length) + " exceeds the model's " + std::to_string(limit) + " positions");
  e.format_.emplace(tokenize::Tokenizer::load(tok), e.model_->is_encoder(), max_length > 0 ? max_length : std::min<int64_t>(limit, 512));
  e.model_->eval();
  return e;
}

Tensor SentenceEmbedder::embed(const std::vector<std::string>& texts, Pooling pooling, bool normalize, int64_t batch_size) const {
  return embed_texts(*model_, *format_, texts, pooling, normalize, batch_size);
}

}  // namespace cornerstone::adapt

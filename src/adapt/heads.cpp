#include "cornerstone/adapt/heads.h"

#include "cornerstone/core/error.h"
#include "cornerstone/ops/embedding.h"
#include "cornerstone/ops/linear.h"

namespace cornerstone::adapt {

SequenceClassifier::SequenceClassifier(std::shared_ptr<models::GPT> base, int64_t num_labels, uint64_t seed)
    : base_(std::move(base)) {
  if (num_labels < 2) throw ValueError("classification needs at least 2 labels, got " + std::to_string(num_labels));
  Rng rng(seed);
  register_module("base", base_);
  score_ = register_parameter("score.weight", Tensor::randn({num_labels, base_->config().d_model}, rng, base_->config().init_std));
}

Tensor SequenceClassifier::logits(const Tensor& ids, const Tensor& lengths, Rng* dropout_rng) const {
  check_dtype(lengths, DType::I32, "classifier", "lengths");
  const int64_t B = ids.size(0), T = ids.size(1), C = base_->config().d_model;
  if (lengths.numel() != B) throw ShapeError("classifier: " + std::to_string(lengths.numel()) + " lengths for " + std::to_string(B) + " sequences");
  // Row index of each sequence's last real token in the flattened (B T, C) hidden states.
  std::vector<int32_t> last(static_cast<size_t>(B));
  const Tensor lc = lengths.contiguous();
  for (int64_t b = 0; b < B; ++b) {
    const int32_t len = lc.data<int32_t>()[b];
    if (len < 1 || len > T) throw ValueError("classifier: sequence " + std::to_string(b) + " has length " + std::to_string(len));
    last[static_cast<size_t>(b)] = static_cast<int32_t>(b * T + len - 1);
  }
  const Tensor h = base_->hidden(ids, 0, dropout_rng).view({B * T, C});
  const Tensor pooled = ops::embedding(h, Tensor::from_data({B}, last));  // gathers rows, differentiably
  return ops::linear(pooled, score_);
}

TokenClassifier::TokenClassifier(std::shared_ptr<models::GPT> base, int64_t num_tags, uint64_t seed) : base_(std::move(base)) {
  if (num_tags < 1) throw ValueError("tagging needs at least one tag");
  Rng rng(seed);
  register_module("base", base_);
  weight_ = register_parameter("classifier.weight", Tensor::randn({num_tags, base_->config().d_model}, rng, base_->config().init_std));
  bias_ = register_parameter("classifier.bias", Tensor::zeros({num_tags}));
}

Tensor TokenClassifier::logits(const Tensor& ids, Rng* dropout_rng) const {
  return ops::linear(base_->hidden(ids, 0, dropout_rng), weight_, bias_);
}

}  // namespace cornerstone::adapt

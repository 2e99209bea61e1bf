#include "cornerstone/adapt/heads.h"

#include "cornerstone/adapt/embedding.h"
#include "cornerstone/core/error.h"
#include "cornerstone/ops/linear.h"

namespace cornerstone::adapt {

SequenceClassifier::SequenceClassifier(std::shared_ptr<models::PretrainedModel> base, int64_t num_labels, uint64_t seed,
                                       Pooling pooling)
    : base_(std::move(base)), pooling_(pooling) {
  // One output is a scalar score (a reward model); a classifier has two labels or more (TaskModel checks).
  if (num_labels < 1) throw ValueError("a sequence head needs at least 1 output, got " + std::to_string(num_labels));
  Rng rng(seed);
  register_module("base", base_);
  const Shape shape{num_labels, base_->hidden_size()};
  const auto head = base_->sequence_head();  // the Hugging Face names of the model's family
  weight_ = register_parameter(head.name + ".weight", Tensor::randn(shape, rng, base_->init_std()));
  if (head.bias) bias_ = register_parameter(head.name + ".bias", Tensor::zeros({num_labels}));
}

Tensor SequenceClassifier::logits(const Tensor& ids, const Tensor& lengths, const Tensor& segments, Rng* dropout_rng) const {
  data::Batch in;
  in.set(data::batch_keys::ids, ids).set(data::batch_keys::lengths, lengths).set(data::batch_keys::segments, segments);
  const Tensor h = base_->hidden_states(in, dropout_rng);
  return ops::linear(pooling_ == Pooling::Mean ? pool(h, lengths, Pooling::Mean) : base_->sequence_features(h, lengths),
                     weight_, bias_);
}

TokenClassifier::TokenClassifier(std::shared_ptr<models::PretrainedModel> base, int64_t num_tags, uint64_t seed)
    : base_(std::move(base)) {
  if (num_tags < 1) throw ValueError("tagging needs at least one tag");
  Rng rng(seed);
  register_module("base", base_);
  weight_ = register_parameter("classifier.weight", Tensor::randn({num_tags, base_->hidden_size()}, rng, base_->init_std()));
  bias_ = register_parameter("classifier.bias", Tensor::zeros({num_tags}));
}

Tensor TokenClassifier::logits(const Tensor& ids, const Tensor& lengths, Rng* dropout_rng) const {
  data::Batch in;
  in.set(data::batch_keys::ids, ids).set(data::batch_keys::lengths, lengths);
  return ops::linear(base_->hidden_states(in, dropout_rng), weight_, bias_);
}

ValueHead::ValueHead(std::shared_ptr<models::PretrainedModel> base, uint64_t seed) : base_(std::move(base)) {
  if (!base_->as<models::CausalLM>()) throw ValueError("a value head sits on a decoder; a " + base_->model_type() + " model is not one");
  Rng rng(seed);
  register_module("base", base_);
  weight_ = register_parameter("v_head.summary.weight", Tensor::randn({1, base_->hidden_size()}, rng, base_->init_std()));
  bias_ = register_parameter("v_head.summary.bias", Tensor::zeros({1}));
}

Tensor ValueHead::values(const Tensor& hidden) const {
  const Shape out(hidden.shape().begin(), hidden.shape().end() - 1);
  return ops::linear(hidden, weight_, bias_).view(out);
}

}  // namespace cornerstone::adapt

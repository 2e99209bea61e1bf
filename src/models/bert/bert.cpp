#include "cornerstone/models/bert/bert.h"

#include "cornerstone/core/error.h"
#include "cornerstone/ops/activation.h"
#include "cornerstone/ops/dropout.h"
#include "cornerstone/ops/elementwise.h"
#include "cornerstone/ops/embedding.h"
#include "cornerstone/ops/linear.h"
#include "cornerstone/ops/loss.h"

namespace cornerstone::models {

BERT::BERT(const EncoderConfig& config, uint64_t seed, bool random_init) : cfg_(config) {
  cfg_.validate();
  Rng rng(seed);
  nn::BlockConfig bc = cfg_.block();
  const float std = random_init ? cfg_.init_std : 0.0f;  // 0: zeros, no random draws
  if (!random_init) bc.init_std = bc.proj_init_std = 0.0f;
  const int64_t C = cfg_.d_model;
  word_ = register_module("embeddings.word", std::make_shared<nn::Embedding>(cfg_.vocab_size, C, rng, std));
  position_ = register_module("embeddings.position", std::make_shared<nn::Embedding>(cfg_.context, C, rng, std));
  token_type_ = register_module("embeddings.token_type", std::make_shared<nn::Embedding>(cfg_.type_vocab_size, C, rng, std));
  embeddings_norm_ = register_module("embeddings.norm", std::make_shared<nn::Norm>(nn::NormKind::LayerNorm, C, cfg_.norm_eps, true));
  for (int64_t i = 0; i < cfg_.n_layers; ++i)
    blocks_.push_back(register_module("blocks." + std::to_string(i), std::make_shared<nn::TransformerBlock>(bc, rng)));
  if (cfg_.pre_norm)
    final_norm_ = register_module("final_norm", std::make_shared<nn::Norm>(nn::NormKind::LayerNorm, C, cfg_.norm_eps, true));
  pooler_ = register_module("pooler", std::make_shared<nn::Linear>(C, C, true, rng, std));
  mlm_transform_ = register_module("mlm.transform", std::make_shared<nn::Linear>(C, C, true, rng, std));
  mlm_norm_ = register_module("mlm.norm", std::make_shared<nn::Norm>(nn::NormKind::LayerNorm, C, cfg_.norm_eps, true));
  mlm_bias_ = register_parameter("mlm.bias", Tensor::zeros({cfg_.vocab_size}));
}

Tensor BERT::hidden(const Tensor& ids, const Tensor& segments, const Tensor& lengths, Rng* dropout_rng) const {
  check_dtype(ids, DType::I32, "bert", "ids");
  check_ndim(ids, 2, "bert", "ids");
  const int64_t B = ids.size(0), T = ids.size(1);
  if (T > cfg_.context)
    throw ShapeError("bert: a sequence of " + std::to_string(T) + " tokens exceeds the position table of " +
                     std::to_string(cfg_.context) + " (max_position_embeddings); truncate the input or pretrain a longer context");
  Tensor seg = segments;
  if (seg.defined()) {
    check_dtype(seg, DType::I32, "bert", "segments");
    if (seg.shape() != ids.shape())
      throw ShapeError("bert: segments " + seg.shape().str() + " must have the shape of ids " + ids.shape().str());
    const std::vector<int32_t> v = seg.to_int_vector();
    for (size_t i = 0; i < v.size(); ++i)
      if (v[i] < 0 || v[i] >= cfg_.type_vocab_size)
        throw ValueError("bert: segment id " + std::to_string(v[i]) + " of sequence " + std::to_string(static_cast<int64_t>(i) / T) +
                         ", position " + std::to_string(static_cast<int64_t>(i) % T) + " is outside [0, " +
                         std::to_string(cfg_.type_vocab_size) + ") (type_vocab_size)");
  } else {
    seg = Tensor::zeros({B, T}, DType::I32);
  }
  // Padding is masked only when some sequence is shorter than T.
  const std::vector<int32_t> len = checked_lengths(B, T, lengths, "bert");
  bool padded = false;
  for (int32_t l : len) padded |= l < T;

  Tensor x = ops::add(ops::add_positions(word_->forward(ids), position_->weight()), token_type_->forward(seg));  // (B, T, C)
  x = embeddings_norm_->forward(x);
  if (training() && cfg_.dropout > 0) {
    if (!dropout_rng) throw ValueError("bert: dropout is on but no random generator was given");
    x = ops::dropout(x, cfg_.dropout, *dropout_rng);
  }
  x = nn::forward_blocks(blocks_, x, nullptr, dropout_rng, padded ? lengths : Tensor(), checkpoint_);
  return final_norm_ ? final_norm_->forward(x) : x;
}

Tensor BERT::pooled(const Tensor& h) const {
  check_ndim(h, 3, "bert", "hidden");
  return ops::tanh(pooler_->forward(h.select(1, 0).contiguous()));
}

Tensor BERT::mlm_logits(const Tensor& h) const {
  const Tensor t = mlm_norm_->forward(ops::gelu(mlm_transform_->forward(h), ops::GeluKind::Erf));
  return ops::linear(t, word_->weight(), mlm_bias_);
}

Tensor BERT::mlm_loss(const Tensor& ids, const Tensor& segments, const Tensor& targets, Rng* dropout_rng) const {
  check_dtype(targets, DType::I32, "bert", "targets");
  if (targets.shape() != ids.shape())
    throw ShapeError("bert: targets " + targets.shape().str() + " must have the shape of ids " + ids.shape().str());
  const Tensor h = hidden(ids, segments, Tensor(), dropout_rng);
  const int64_t B = ids.size(0), T = ids.size(1), C = cfg_.d_model;
  // The head runs on the predicted rows only: gather them (differentiably) first.
  const std::vector<int32_t> t = targets.to_int_vector();
  std::vector<int32_t> rows, picked;
  for (int64_t i = 0; i < B * T; ++i)
    if (t[static_cast<size_t>(i)] >= 0) rows.push_back(static_cast<int32_t>(i)), picked.push_back(t[static_cast<size_t>(i)]);
  if (rows.empty()) rows.push_back(0), picked.push_back(-1);  // nothing to predict: a loss of 0
  const int64_t M = static_cast<int64_t>(rows.size());
  const Tensor hs = ops::embedding(h.view({B * T, C}), Tensor::from_data({M}, rows));  // (M, C)
  const Tensor x = mlm_norm_->forward(ops::gelu(mlm_transform_->forward(hs), ops::GeluKind::Erf));
  return ops::lm_head_cross_entropy(x, word_->weight(), mlm_bias_, Tensor::from_data({M}, picked));
}

Tensor BERT::mlm_loss(const data::Batch& batch, Rng* dropout_rng) const {
  return mlm_loss(batch.get(data::batch_keys::ids, "bert"), batch[data::batch_keys::segments],
                  batch.get(data::batch_keys::targets, "bert"), dropout_rng);
}

}  // namespace cornerstone::models

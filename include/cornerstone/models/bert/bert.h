// BERT: a bidirectional transformer encoder with a masked-language-modelling head
// (models/encoder_config.h).
//
//   ids, segments (B, T) -> word + position + segment embeddings -> LayerNorm -> dropout
//   -> n_layers x TransformerBlock (bidirectional, padding masked by `lengths`)  (-> final LayerNorm
//   when pre-norm) -> hidden (B, T, C)
//   pooler:    tanh(dense(hidden[:, 0]))                         (the [CLS] state; classification)
//   MLM head:  LayerNorm(gelu(dense(hidden))) @ word_embeddings^T + bias   (decoder tied)
//
// Training never materialises the logits of the whole batch: mlm_loss() runs the head only on the
// rows that carry a target (about 15% of them) and fuses the vocabulary projection with the
// cross-entropy. Parameter names: embeddings.{word,position,token_type}.weight, embeddings.norm.*,
// blocks.<i>.*, final_norm.* (pre-norm), pooler.*, mlm.transform.*, mlm.norm.*, mlm.bias; Hugging
// Face names (BertForMaskedLM) in bert_hf.cpp.
#pragma once

#include <memory>
#include <vector>

#include "cornerstone/models/bert/encoder_config.h"
#include "cornerstone/models/pretrained.h"
#include "cornerstone/nn/transformer.h"

namespace cornerstone::models {

class BERT : public PretrainedModel, public MaskedLM {
 public:
  // Fresh weights from `seed` (BERT's initialisation: N(0, init_std) weights, zero biases, unit
  // norm gains); random_init = false leaves them zero, for a model whose weights are loaded next.
  BERT(const EncoderConfig& config, uint64_t seed, bool random_init = true);

  const EncoderConfig& config() const override { return cfg_; }

  // ids (B, T) i32; segments (B, T) i32 in [0, type_vocab_size) or undefined (all 0); lengths (B)
  // real lengths of a right-padded batch or undefined (no padding). -> (B, T, C). Throws
  // ShapeError when T exceeds the position table, ValueError naming a bad segment id's place.
  Tensor hidden(const Tensor& ids, const Tensor& segments = Tensor(), const Tensor& lengths = Tensor(),
                Rng* dropout_rng = nullptr) const;
  // tanh(dense(hidden[:, 0])): (B, C).
  Tensor pooled(const Tensor& hidden) const;
  // Masked-LM loss: mean cross-entropy over the positions whose target (B, T) is >= 0 (the others,
  // -1, are not predicted); 0 when there are none.
  Tensor mlm_loss(const Tensor& ids, const Tensor& segments, const Tensor& targets, Rng* dropout_rng = nullptr) const;
  // The MLM head on hidden states (..., C) -> logits (..., V).
  Tensor mlm_logits(const Tensor& hidden) const override;
  // MaskedLM: mlm_loss(ids, segments, targets) of the batch.
  Tensor mlm_loss(const data::Batch& batch, Rng* dropout_rng = nullptr) const override;

  const Tensor& word_embeddings() const { return word_->weight(); }
  nn::Linear& pooler() const { return *pooler_; }
  const std::vector<std::shared_ptr<nn::TransformerBlock>>& blocks() const { return blocks_; }

  // PretrainedModel (Hugging Face names and layouts in bert_hf.cpp).
  TextFraming text_framing() const override { return TextFraming::ClsSep; }
  int64_t hidden_size() const override { return cfg_.d_model; }
  float init_std() const override { return cfg_.init_std; }
  std::vector<std::pair<std::string, Tensor>> hf_state_dict() const override;
  // The pooler and the MLM head may be absent (a BertModel, a BertForMaskedLM without pooler): they
  // keep their initial values.
  void load_hf_state_dict(const TensorSource& get, const std::string& source) override;
  Tensor hidden_states(const data::Batch& batch, Rng* dropout_rng = nullptr) const override {
    return hidden(batch.get(data::batch_keys::ids, "bert"), batch[data::batch_keys::segments], batch[data::batch_keys::lengths],
                  dropout_rng);
  }
  Tensor sequence_features(const Tensor& hidden, const Tensor& lengths) const override { return pooled(hidden); }
  std::vector<std::pair<std::string, Tensor>> feature_head() const override {
    return {{"bert.pooler.dense.weight", pooler_->weight()}, {"bert.pooler.dense.bias", pooler_->bias()}};
  }
  HeadNames sequence_head() const override { return {"classifier", true}; }
  std::vector<LinearSite> linear_sites() const override;
  void set_checkpoint_activations(bool on) override { checkpoint_ = on; }

 private:
  EncoderConfig cfg_;
  std::shared_ptr<nn::Embedding> word_, position_, token_type_;
  std::shared_ptr<nn::Norm> embeddings_norm_, final_norm_;
  std::vector<std::shared_ptr<nn::TransformerBlock>> blocks_;
  std::shared_ptr<nn::Linear> pooler_, mlm_transform_;
  std::shared_ptr<nn::Norm> mlm_norm_;
  Tensor mlm_bias_;
  bool checkpoint_ = false;
};

}  // namespace cornerstone::models

// Task heads on a decoder (models::GPT), named as Hugging Face names them:
//   sequence classification  score.weight (labels, C), no bias: logits from the hidden state of
//                            each sequence's last real token (GPT2/LlamaForSequenceClassification)
//   token classification     classifier.weight (tags, C) + classifier.bias: logits per token
//                            (GPT2ForTokenClassification)
// Sequences in a batch are right-padded; the causal mask means padding never affects the real
// tokens, so no attention mask is needed.
#pragma once

#include <cstdint>
#include <memory>

#include "cornerstone/models/gpt.h"
#include "cornerstone/nn/module.h"

namespace cornerstone::adapt {

class SequenceClassifier : public nn::Module {
 public:
  SequenceClassifier(std::shared_ptr<models::GPT> base, int64_t num_labels, uint64_t seed);
  // ids (B, T) right-padded, lengths (B) i32 real lengths -> logits (B, labels).
  Tensor logits(const Tensor& ids, const Tensor& lengths, Rng* dropout_rng = nullptr) const;
  models::GPT& base() const { return *base_; }
  const Tensor& score() const { return score_; }

 private:
  std::shared_ptr<models::GPT> base_;
  Tensor score_;
};

class TokenClassifier : public nn::Module {
 public:
  TokenClassifier(std::shared_ptr<models::GPT> base, int64_t num_tags, uint64_t seed);
  // ids (B, T) -> logits (B, T, tags).
  Tensor logits(const Tensor& ids, Rng* dropout_rng = nullptr) const;
  models::GPT& base() const { return *base_; }

 private:
  std::shared_ptr<models::GPT> base_;
  Tensor weight_, bias_;
};

}  // namespace cornerstone::adapt

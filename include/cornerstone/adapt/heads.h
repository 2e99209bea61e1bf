// Task heads on a pretrained model, decoder or encoder, named as Hugging Face names them:
//
//   sequence classification   decoder: score.weight (labels, C), no bias, on the hidden state of
//                             each sequence's last real token (GPT2/LlamaForSequenceClassification)
//                             encoder: classifier.weight (labels, C) + classifier.bias on the
//                             pooler's output for [CLS] (BertForSequenceClassification)
//                             either, with Pooling::Mean: the same head on the mean of the real
//                             tokens' final states (no pooler; what sentence-embedding classifiers
//                             read; transformers' *ForSequenceClassification has no such option)
//   token classification      classifier.weight (tags, C) + classifier.bias on every token's state
//                             (GPT2ForTokenClassification, BertForTokenClassification)
//   value (PPO)               v_head.summary.weight (1, C) + v_head.summary.bias on every token's
//                             state of a decoder (TRL's AutoModelForCausalLMWithValueHead)
//
// Sequences in a batch are right-padded with their real lengths given: a decoder's causal mask
// keeps padding away from real tokens by itself, an encoder masks padded keys (models/bert.h).
#pragma once

#include <cstdint>
#include <memory>

#include "cornerstone/models/pretrained.h"
#include "cornerstone/nn/module.h"

namespace cornerstone::adapt {

// What a sequence is reduced to: the mean of its real tokens' final states, or for an encoder its
// [CLS] state (sentence embeddings) / the model's own sequence features (classification: BERT's
// pooler on [CLS], a decoder's last real token).
enum class Pooling { Mean, Cls };

class SequenceClassifier : public nn::Module {
 public:
  SequenceClassifier(std::shared_ptr<models::PretrainedModel> base, int64_t num_labels, uint64_t seed,
                     Pooling pooling = Pooling::Cls);
  // ids (B, T) right-padded, lengths (B) i32 real lengths, segments (B, T) or undefined (pairs,
  // encoders only) -> logits (B, labels).
  Tensor logits(const Tensor& ids, const Tensor& lengths, const Tensor& segments, Rng* dropout_rng = nullptr) const;
  models::PretrainedModel& base() const { return *base_; }
  Pooling pooling() const { return pooling_; }

 private:
  std::shared_ptr<models::PretrainedModel> base_;
  Tensor weight_, bias_;  // bias: encoders only
  Pooling pooling_;
};

class TokenClassifier : public nn::Module {
 public:
  TokenClassifier(std::shared_ptr<models::PretrainedModel> base, int64_t num_tags, uint64_t seed);
  // ids (B, T), lengths (B) -> logits (B, T, tags).
  Tensor logits(const Tensor& ids, const Tensor& lengths, Rng* dropout_rng = nullptr) const;
  models::PretrainedModel& base() const { return *base_; }

 private:
  std::shared_ptr<models::PretrainedModel> base_;
  Tensor weight_, bias_;
};

// A causal LM with a value head on the same trunk: the policy and the critic of PPO.
class ValueHead : public nn::Module {
 public:
  ValueHead(std::shared_ptr<models::PretrainedModel> base, uint64_t seed);
  // Final hidden states (..., C) -> values (...).
  Tensor values(const Tensor& hidden) const;
  models::PretrainedModel& base() const { return *base_; }

 private:
  std::shared_ptr<models::PretrainedModel> base_;
  Tensor weight_, bias_;
};

}  // namespace cornerstone::adapt

// The decoder-only language model (GPT-2 and Llama/Qwen families, models/decoder_config.h).
//
//   ids (B, T) -> token embedding (+ learned positions) -> n_layers x TransformerBlock
//   -> final norm -> LM head (the token embedding when tied) -> logits (B, T, V)
//
// Training never materialises the logits: `loss()` fuses the LM head with the cross-entropy.
// Parameter names: wte.weight, wpe.weight (GPT-2), blocks.<i>.<block names>, norm_f.weight
// (+ norm_f.bias for GPT-2), lm_head.weight (untied only). io/ maps them to Hugging Face names.
#pragma once

#include <memory>
#include <vector>

#include "cornerstone/core/rng.h"
#include "cornerstone/models/gpt/decoder_config.h"
#include "cornerstone/models/pretrained.h"
#include "cornerstone/nn/transformer.h"

namespace cornerstone::models {

class GPT : public PretrainedModel, public CausalLM {
 public:
  // Fresh weights from `seed` (GPT-2 initialisation); random_init = false leaves them zero, for a
  // model whose weights are loaded next.
  GPT(const DecoderConfig& config, uint64_t seed, bool random_init = true);

  const DecoderConfig& config() const override { return cfg_; }

  // ids (B, T) i32 -> hidden states (B, T, C) after the final norm. Positions start at start_pos.
  Tensor hidden(const Tensor& ids, int64_t start_pos = 0, Rng* dropout_rng = nullptr) const;
  // Mean next-token cross-entropy of hidden(ids) against targets (B, T) (negative = ignored).
  Tensor loss(const Tensor& ids, const Tensor& targets, Rng* dropout_rng = nullptr) const;
  // hidden (..., C) -> logits (..., V).
  Tensor logits(const Tensor& hidden) const override;

  // Activation checkpointing: keep only each block's input in the forward pass and recompute the
  // block in the backward pass (less memory, about one more forward pass of compute).
  void set_checkpoint_activations(bool on) override { checkpoint_ = on; }

  // PretrainedModel (Hugging Face names and layouts in gpt_hf.cpp).
  TextFraming text_framing() const override { return TextFraming::EndOfText; }
  int64_t hidden_size() const override { return cfg_.d_model; }
  float init_std() const override { return cfg_.init_std; }
  std::vector<std::pair<std::string, Tensor>> hf_state_dict() const override;
  void load_hf_state_dict(const TensorSource& get, const std::string& source) override;
  // Causal attention: right padding never reaches a real token, so `lengths` is not needed here.
  Tensor hidden_states(const data::Batch& batch, Rng* dropout_rng = nullptr) const override;
  // CausalLM: loss(ids, targets) of the batch.
  Tensor lm_loss(const data::Batch& batch, Rng* dropout_rng = nullptr) const override;
  // The hidden state of each sequence's last real token (GPT2ForSequenceClassification).
  Tensor sequence_features(const Tensor& hidden, const Tensor& lengths) const override;
  HeadNames sequence_head() const override { return {"score", false}; }
  std::vector<LinearSite> linear_sites() const override;
  nn::TensorParallelPlan shard_tensor_parallel(dist::ProcessGroup& group) override;

  const Tensor& lm_head_weight() const { return tie_ ? wte_->weight() : lm_head_; }
  const std::vector<std::shared_ptr<nn::TransformerBlock>>& blocks() const { return blocks_; }
  const ops::RopeCache* rope() const { return rope_.defined() ? &rope_ : nullptr; }

 private:
  DecoderConfig cfg_;
  bool tie_;
  std::shared_ptr<nn::Embedding> wte_, wpe_;
  std::vector<std::shared_ptr<nn::TransformerBlock>> blocks_;
  std::shared_ptr<nn::Norm> norm_f_;
  Tensor lm_head_;
  ops::RopeCache rope_;
  bool checkpoint_ = false;
};

}  // namespace cornerstone::models

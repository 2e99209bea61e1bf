// EncoderConfig: the bidirectional encoders Cornerstone pretrains with masked language modelling
// (BERT, Devlin et al. 2019).
//
//   token + position + segment embeddings -> LayerNorm -> n_layers x block -> (pooler, MLM head)
//   blocks: bidirectional attention, GELU (erf), biases; post-norm as in BERT, or pre-norm
//   (then a final LayerNorm follows the last block).
//
// Configs are JSON objects with "arch": "bert"; presets give the shapes of Google's BERT family:
//
//   preset        layers  d_model  heads  d_ff   parameters (vocabulary 30,522, MLM head included)
//   bert-tiny     2       128      2      512    4.4M
//   bert-mini     4       256      4      1024   11.3M
//   bert-small    4       512      8      2048   29.1M
//   bert-medium   8       512      8      2048   41.7M
//   bert-base     12      768      12     3072   110.1M
//
// Unknown keys and wrong types are errors naming the key.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cornerstone/models/family.h"
#include "cornerstone/nn/transformer.h"

namespace cornerstone::models {

// The encoder family (models/bert/family.cpp registers it).
const Family& bert_family();

struct EncoderConfig : ModelConfig {
  int64_t vocab_size = 30522;
  int64_t context = 512;         // max_position_embeddings: the longest sequence
  int64_t type_vocab_size = 2;   // segments (sentence A / B)
  int64_t n_layers = 4;
  int64_t d_model = 256;
  int64_t n_heads = 4;
  int64_t d_ff = 1024;
  float norm_eps = 1e-12f;
  bool pre_norm = false;         // BERT is post-norm
  float dropout = 0.1f;          // embeddings and residual branches (hidden_dropout_prob)
  float init_std = 0.02f;

  int64_t head_dim() const { return d_model / n_heads; }
  nn::BlockConfig block() const;
  // Parameter count: embeddings, blocks, (final norm), pooler, MLM head (decoder tied).
  int64_t num_parameters() const override;
  // Matmul FLOPs per input token of a masked-LM training step: 6 x (block weights) + attention
  // 12 L T C (bidirectional: nothing halved) + the MLM head on the `predicted` share of tokens
  // that carry a target (the head runs on those rows only).
  double train_flops_per_token(int64_t seq_len, double predicted) const override;

  // ModelConfig
  const Family& family() const override { return bert_family(); }
  std::unique_ptr<ModelConfig> clone() const override { return std::make_unique<EncoderConfig>(*this); }
  std::string model_type() const override { return "bert"; }
  int64_t vocabulary_size() const override { return vocab_size; }
  int64_t max_positions() const override { return context; }
  nlohmann::json hf_config() const override;  // models/bert/bert_hf.h
  std::unique_ptr<PretrainedModel> create(uint64_t seed, bool random_init = true) const override;

  // Throws ValueError naming the field when the numbers do not describe a valid model.
  void validate() const override;
  nlohmann::json to_json() const override;
  // Keys not given keep the defaults of `base`; unknown keys and bad types throw naming the key.
  static EncoderConfig from_json(const nlohmann::json& j, const EncoderConfig& base, const std::string& where);
  static EncoderConfig from_json(const nlohmann::json& j);
  static EncoderConfig preset(const std::string& name);  // throws ValueError listing the presets
  static std::vector<std::string> preset_names();
  static bool is_preset(const std::string& name);
};

}  // namespace cornerstone::models

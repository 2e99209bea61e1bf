// What `cornerstone pretrain --config C` reads: the model and how to train it.
//
//   {
//     "model":    "gpt2-tiny"  or  { "arch": "gpt2", "n_layers": 6, ... }   (models/decoder_config.h)
//                 "bert-mini"  or  { "arch": "bert", ... }                  (models/encoder_config.h)
//     "training": { "batch_size": 8, "lr": 6e-4, ... }                      (below)
//     "masking":  { "probability": 0.15, "whole_word": false, ... }         (encoders: train/masked_lm.h)
//   }
//
// A decoder is pretrained on next-token prediction, an encoder on masked language modelling.
// C is a preset name (`PretrainConfig::preset_names()`) or a JSON file. Unknown keys, wrong types
// and missing sections are errors naming the key.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

#include "cornerstone/models/decoder_config.h"
#include "cornerstone/models/encoder_config.h"
#include "cornerstone/train/masked_lm.h"

namespace cornerstone::train {

struct TrainingConfig {
  int64_t batch_size = 8;        // sequences per micro-batch
  int64_t context = 0;           // tokens per sequence (0: the model's context)
  int64_t tokens_per_step = 0;   // target batch in tokens; gradient accumulation makes it up (0: one micro-batch)
  int64_t steps = 1000;
  float lr = 6e-4f;
  float min_lr = 6e-5f;
  int64_t warmup_steps = 100;
  float weight_decay = 0.1f;
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float grad_clip = 1.0f;        // global norm; 0 disables
  int64_t eval_every = 100;      // steps between validation losses (0: only at the end)
  int64_t eval_batches = 10;
  int64_t checkpoint_every = 500;
  int64_t keep_checkpoints = 3;
  uint64_t seed = 1337;
  std::string precision = "f32";  // "f32" | "bf16"
  bool checkpoint_activations = false;

  nlohmann::json to_json() const;
  static TrainingConfig from_json(const nlohmann::json& j, const TrainingConfig& base, const std::string& where);
  void validate() const;
};

struct PretrainConfig {
  std::variant<models::DecoderConfig, models::EncoderConfig> model;
  TrainingConfig training;
  MaskingConfig masking;  // encoders only

  bool is_encoder() const { return std::holds_alternative<models::EncoderConfig>(model); }
  const models::DecoderConfig& decoder() const { return std::get<models::DecoderConfig>(model); }
  const models::EncoderConfig& encoder() const { return std::get<models::EncoderConfig>(model); }
  int64_t model_context() const;  // the model's longest sequence
  // Tokens per training sequence: training.context, or the model's context (an encoder's preset
  // trains at 128 tokens, as BERT's first phase did).
  int64_t sequence_length() const;

  nlohmann::json to_json() const;
  static PretrainConfig from_json(const nlohmann::json& j, const std::string& where);
  // A preset name or a path to a JSON file.
  static PretrainConfig load(const std::string& name_or_path);
  static std::vector<std::string> preset_names();
};

}  // namespace cornerstone::train

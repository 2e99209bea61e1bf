// What `cornerstone pretrain --config C` reads: the model and how to train it.
//
//   {
//     "model":     "gpt2-tiny"  or  { "arch": "gpt2", "n_layers": 6, ... }  (any registered family:
//                  "bert-mini"  or  { "arch": "bert", ... }                  models/family.h)
//     "training":  { "batch_size": 8, "lr": 6e-4, ... }                     (below)
//     "objective": "masked_lm"                                   (optional: the family's default)
//     "masking":   { "probability": 0.15, "whole_word": false, ... }  (the objective's own section:
//                                                                     masked LM, train/masked_lm.h)
//   }
//
// Each family names the objective it pretrains by (a decoder: next-token prediction, "causal_lm";
// an encoder: masked language modelling, "masked_lm"); objectives register themselves
// (train/objective.h) and may own a config section. C is a preset name
// (`PretrainConfig::preset_names()`: every family's model presets, with their training recipes)
// or a JSON file. Unknown keys, wrong types and missing sections are errors naming the key.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <memory>
#include <vector>

#include "cornerstone/models/family.h"

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
  std::shared_ptr<const models::ModelConfig> model;  // the family's config (models/family.h)
  TrainingConfig training;
  std::string objective;             // the registered objective: the family's, or the config's "objective"
  nlohmann::json objective_options;  // the objective's section with defaults filled in (null: it has none)

  int64_t model_context() const { return model->max_positions(); }  // the model's longest sequence
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

// Pretraining checkpoints.
//
//   RUN/checkpoints/step-00000500/   config.json, model.safetensors (Hugging Face names),
//                                    tokenizer.json, optimizer.safetensors (AdamW moments),
//                                    state.json (step, schedule length, RNG, losses, config)
//   RUN/config.json, RUN/model.safetensors   the latest checkpoint's model (hard links)
//
// A checkpoint folder is written under a temporary name and renamed when complete, so a crash
// (or Ctrl-C) mid-write never leaves a half checkpoint under a real name; the last K are kept.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cornerstone/models/pretrained.h"
#include "cornerstone/train/optimizer.h"

namespace cornerstone::train {

struct TrainerState {
  int64_t step = 0;         // optimizer steps completed
  int64_t total_steps = 0;  // schedule length
  uint64_t rng_seed = 0, rng_offset = 0;  // dropout generator
  double train_loss = 0, val_loss = 0;
  double elapsed_seconds = 0;
  nlohmann::json config;  // the PretrainConfig the run uses
};

// Returns the checkpoint folder written.
std::string save_checkpoint(const std::string& run_dir, const models::PretrainedModel& model, const AdamW& optimizer,
                            const TrainerState& state, int64_t keep);

// The newest complete checkpoint folder of a run, if any.
std::optional<std::string> latest_checkpoint(const std::string& run_dir);

// Restores model weights and optimizer state from a checkpoint folder; returns its trainer state.
// Throws FormatError naming the file when anything is missing, truncated or mis-shaped.
TrainerState load_checkpoint(const std::string& checkpoint_dir, models::PretrainedModel& model, AdamW& optimizer);

}  // namespace cornerstone::train

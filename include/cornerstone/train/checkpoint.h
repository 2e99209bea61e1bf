// Training checkpoints.
//
//   RUN/checkpoints/step-00000500/   the model (pretraining: config.json, model.safetensors in
//                                    Hugging Face names, tokenizer.json; fine-tuning: the task
//                                    folder, adapt/task_model.h), optimizer.safetensors (AdamW
//                                    moments), state.json (step, schedule length, RNG, losses,
//                                    config)
//   RUN/config.json, RUN/model.safetensors   pretraining: the latest checkpoint's model (hard links)
//
// Batches are a pure function of (seed, step, micro), so step and RNG are the whole data position.
// A checkpoint folder is written under a temporary name and renamed when complete, so a crash
// (or Ctrl-C, or kill -9) mid-write never leaves a half checkpoint under a real name; the last K
// are kept, and an old one is renamed away before it is deleted (tests/crashsafe kill the CLI
// mid-write and check all of this).
#pragma once

#include <cstdint>
#include <functional>
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
  double window_loss_sum = 0;  // training losses since the last validation (their mean is reported with it)
  int64_t window_steps = 0;
  nlohmann::json config;  // the configuration the run uses (PretrainConfig, fine-tuning options)
};

// Writes a model into a (new, empty) checkpoint folder.
using ModelWriter = std::function<void(const std::string& dir)>;

// The optimizer's part of a checkpoint: its full moments by name (AdamW::state()) and step count;
// or, when `stream` is set, their layout and the moments one at a time (AdamW::state_layout(),
// state_tensor(): ZeRO's writer then holds one whole moment at a time).
struct OptimizerState {
  std::vector<std::pair<std::string, Tensor>> moments;
  int64_t steps = 0;
  std::vector<io::TensorLayout> layout;
  std::function<Tensor(size_t)> stream;
};

// Writes RUN/checkpoints/step-N with the model (`write_model`), optimizer state and trainer
// state, and keeps the newest `keep`. Returns the checkpoint folder written.
std::string save_checkpoint(const std::string& run_dir, const ModelWriter& write_model, const OptimizerState& optimizer,
                            const TrainerState& state, int64_t keep);

// Pretraining's writer: the model's folder (config.json, model.safetensors) and RUN/tokenizer.json.
ModelWriter pretrained_model_writer(const models::PretrainedModel& model, const std::string& run_dir);
// Pretraining: the run folder itself is a loadable model: RUN/model.safetensors and RUN/config.json
// become (hard links to) the newest checkpoint's.
void point_run_at(const std::string& run_dir, const std::string& checkpoint_dir);

// Removes what killed writers left in RUN/checkpoints: the hidden folders (.step-N.tmp.<pid>) of
// checkpoints being written or removed by a process that no longer exists. save_checkpoint and a
// starting training loop call it.
void remove_checkpoint_temporaries(const std::string& run_dir);

// The newest complete checkpoint folder of a run, if any.
std::optional<std::string> latest_checkpoint(const std::string& run_dir);

// Restores optimizer state from a checkpoint folder and returns its trainer state; the model's
// weights are the caller's (load_checkpoint_weights for a pretrained model, TaskModel::load for a
// task). Throws FormatError naming the file when anything is missing, truncated or mis-shaped.
// `moments` (may be empty) maps the checkpoint's whole moments to what the optimizer holds (tensor
// parallelism: this process's shares).
TrainerState load_training_state(const std::string& checkpoint_dir, AdamW& optimizer,
                                 const std::function<std::vector<std::pair<std::string, Tensor>>(const std::vector<std::pair<std::string, Tensor>>&)>&
                                     moments = {});
void load_checkpoint_weights(const std::string& checkpoint_dir, models::PretrainedModel& model);

}  // namespace cornerstone::train

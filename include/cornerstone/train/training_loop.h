// The one training engine: pretraining (train/trainer.h) and fine-tuning (adapt/finetune.h) both
// run an Objective (train/objective.h) through this loop. It composes
//
//   TrainStep     micro-batches with gradient accumulation, backward, the gradient all-reduce
//                 seam, clipping, AdamW                                   (train/train_step.h)
//   MetricsLog    RUN/metrics.jsonl and the progress line                 (train/metrics_log.h)
//   TimeBudget    --time: stop when spent, the schedule sized to fit      (train/time_budget.h)
//   checkpoints   atomic, the newest K kept, exact resume (weights, AdamW moments, step, schedule
//                 length, dropout RNG; batches are a function of the step)  (train/checkpoint.h)
//
// with warm-up + cosine learning rates, validation every `eval_every` steps and at the end, bf16
// GEMMs when asked, and Ctrl-C (SIGINT / SIGTERM) that saves a checkpoint and returns.
//
//   LoopConfig c;  c.run_dir = "runs/x";  c.total_steps = 1000;  ...
//   TrainingLoop loop(c, {objective, module, module.named_parameters(), write_model, load_model, dropout});
//   TrainResult r = loop.run();
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "cornerstone/core/rng.h"
#include "cornerstone/nn/module.h"
#include "cornerstone/train/checkpoint.h"
#include "cornerstone/train/data_parallel.h"
#include "cornerstone/train/objective.h"
#include "cornerstone/train/optimizer.h"
#include "cornerstone/train/parameter_shards.h"

namespace cornerstone::train {

struct LoopConfig {
  std::string label = "pretrain";  // the progress line's
  std::string run_dir;             // metrics.jsonl and checkpoints/
  int64_t total_steps = 0;         // the schedule's length (a resumed run keeps its checkpoint's unless steps_override)
  int64_t steps_override = 0;      // > 0: the schedule's length, also on resume (--steps)
  int64_t accumulation = 1;        // micro-batches per optimizer step
  AdamWConfig adamw;
  float min_lr = 0;
  int64_t warmup_steps = 0;
  float warmup_fraction = 0;       // > 0: the warm-up is this share of the schedule instead (kept when --time resizes it)
  double grad_clip = 1.0;          // global norm; 0 disables
  int64_t eval_every = 0;          // steps between validations (0: only at the end)
  int64_t eval_batches = 10;       // for objectives that validate on fixed batches
  int64_t checkpoint_every = 0;    // steps between checkpoints (0: only at the end or when stopped)
  int64_t keep_checkpoints = 3;
  std::string precision = "f32";   // "f32" | "bf16" GEMMs
  double time_limit_s = 0;         // > 0: stop after this long, the schedule sized to fit
  bool resume = false;             // continue from the run's latest checkpoint
  bool quiet = false;              // no progress line
  int64_t zero = 0;                // data parallel: 1 partitions the AdamW moments over the processes (ZeRO-1), 2 the gradients too
  nlohmann::json config;           // recorded in every checkpoint's state.json
};

struct LoopParts {
  Objective& objective;
  nn::Module& module;                                      // train() / eval() around validation
  std::vector<std::pair<std::string, Tensor>> parameters;  // what the optimizer trains
  ModelWriter write_model;                                 // the model into a checkpoint folder
  // Restores the weights from a checkpoint folder on resume; empty when the caller already loaded
  // its model from that folder (latest_checkpoint(run_dir)).
  std::function<void(const std::string& dir)> load_model;
  Rng& dropout_rng;                                        // restored on resume
  // After each checkpoint is in place (pretraining points the run folder at it); may be empty.
  std::function<void(const std::string& checkpoint_dir)> after_checkpoint = {};
  GradientSync* sync = nullptr;                            // null: one process (LocalGradientSync)
  ParameterShards* shards = nullptr;                       // tensor parallel: whole tensors in checkpoints
};

struct TrainResult {
  int64_t steps = 0;           // optimizer steps completed in total
  double train_loss = 0;       // last step's
  double mean_train_loss = 0;  // mean over the steps since the validation point before the last (fine-tuning: the last epoch)
  double val_loss = 0;         // last validation's primary number (pretraining: the val loss)
  double inputs_per_s = 0;     // this invocation's average, in input_unit
  std::string input_unit = "tokens";  // the objective's: "tokens" or "images"
  bool interrupted = false;    // stopped by Ctrl-C (a checkpoint was saved)
  std::string checkpoint;      // the last checkpoint written
  double seconds = 0;          // this invocation's training time
};

class TrainingLoop {
 public:
  TrainingLoop(LoopConfig config, LoopParts parts);
  TrainResult run();

 private:
  LoopConfig cfg_;
  LoopParts parts_;
};

// Installs a SIGINT/SIGTERM handler that asks running loops to stop at the next step boundary.
void install_interrupt_handler();
bool interrupt_requested();

}  // namespace cornerstone::train

// Fine-tuning a TaskModel on labelled data, and evaluating it: classification and tagging
// (cross-entropy on the head's logits) and contrastive sentence embeddings (InfoNCE with in-batch
// negatives, adapt/embedding.h) and instruction tuning (next-token loss on responses,
// adapt/instruction.h).
//
// Each task is an objective (adapt/task_objective.h) of the one training loop
// (train/training_loop.h), the one pretraining runs through: AdamW over the trainable parameters
// only, warm-up + cosine, clipping, gradient accumulation, optional bf16 GEMMs and activation
// checkpointing, a time budget, Ctrl-C that saves, and exact resume; epochs over shuffled
// examples, with the validation metrics before training (epoch 0) and after every epoch. Frozen
// parameters have no gradients and no optimizer state, which is where LoRA and frozen-base
// training save memory.
//
// The output folder while a run goes and after it:
//
//   OUT/metrics.jsonl                 a line per step, and the validation metrics per epoch
//   OUT/checkpoints/step-00000120/    the task folder so far (adapt/task_model.h: loadable by
//                                     evaluate), optimizer.safetensors, state.json; written at
//                                     every epoch's end, on Ctrl-C and when --time runs out; the
//                                     newest is kept
//   OUT/task.json, the weights, ...   when the run ends: the task folder (written beside, then
//                                     moved in, task.json last), and the checkpoints removed
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cornerstone/eval/metrics.h"
#include "cornerstone/adapt/task_model.h"
#include "cornerstone/adapt/task_type.h"

namespace cornerstone::adapt {

struct FinetuneOptions {
  std::string out;              // the output folder (above)
  int64_t epochs = 3;
  int64_t steps = 0;            // > 0: train this many optimizer steps (the schedule sized to them) instead of `epochs`
  int64_t batch_size = 8;       // examples per micro-batch
  int64_t accumulation = 1;     // micro-batches per optimizer step: batch_size x accumulation examples per step
  float lr = 0;                 // 0: 1e-4 for full fine-tuning, 1e-3 for LoRA and heads on a frozen base
  float weight_decay = 0.01f;
  float warmup_fraction = 0.06f;
  float grad_clip = 1.0f;
  uint64_t seed = 1337;
  std::string precision = "f32";  // "f32" | "bf16"
  bool checkpoint_activations = false;  // recompute the base's block activations in the backward pass
  double time_limit_s = 0;        // > 0: stop after this long, the schedule sized to fit
  bool resume = false;            // continue OUT from its latest checkpoint (the model loaded from it: finetune_checkpoint)
  int64_t zero = 0;               // under mpirun: 1 partitions the AdamW moments over the ranks (ZeRO-1), 2 the gradients too
  double bucket_mb = 32;          // under mpirun: the gradient buckets' size (one collective each)
  bool quiet = false;

  // What must match when a run is resumed (state.json's "config").
  nlohmann::json to_json() const;
};

struct FinetuneResult {
  int64_t steps = 0;            // optimizer steps done in total
  bool interrupted = false;     // stopped by Ctrl-C: OUT holds a checkpoint to --resume from
  std::string checkpoint;       // the last checkpoint written
  int64_t trainable_parameters = 0, total_parameters = 0;
  double seconds = 0;     // this invocation's training time
  double train_loss = 0;  // mean over the last epoch
  TaskReport val;               // the task's validation metrics after the last epoch (empty when no validation data)
};

// Trains `model` into options.out. A run that ends (not interrupted) leaves OUT as the task
// folder with metrics.jsonl. Throws ValueError when a resumed run's options differ from its
// checkpoint's.
FinetuneResult finetune(TaskModel& model, const std::string& train_jsonl, const std::string& val_jsonl,
                        const FinetuneOptions& options);

// The newest checkpoint of a fine-tuning run in OUT (a task folder: TaskModel::load it to
// resume), if any.
std::optional<std::string> finetune_checkpoint(const std::string& out);

// A fine-tune killed (kill -9, power loss) before its first checkpoint leaves OUT holding only its
// own beginnings: metrics.jsonl, checkpoints/ without a complete checkpoint, hidden temporaries.
// There is nothing to resume; this removes them (so the same command can start again) and returns
// true. OUT holding anything else (a finished model, a checkpoint, other files) is left alone: false.
bool clear_unstarted_finetune(const std::string& out);

// The metrics of a fine-tuned model on a JSONL file of its task (adapt/task_type.h): accuracy,
// macro-F1 and the confusion matrix (classify, tag; tagging scored per word, on each word's first
// token), recall and MRR of each query against every positive of the file (contrastive),
// response loss and perplexity on {"prompt", "response"} (sft, dpo), pairwise accuracy (reward).
// Labels unknown to the model are errors.
TaskReport evaluate_file(const TaskModel& model, const std::string& jsonl, int64_t batch_size = 16);

}  // namespace cornerstone::adapt

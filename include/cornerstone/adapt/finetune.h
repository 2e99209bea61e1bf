// Fine-tuning a TaskModel on labelled data, and evaluating it: classification and tagging
// (cross-entropy on the head's logits) and contrastive sentence embeddings (InfoNCE with in-batch
// negatives, adapt/embedding.h) and instruction tuning (next-token loss on responses,
// adapt/instruction.h), all through one loop.
//
// The loop is the pretraining loop's (AdamW over the trainable parameters only, warm-up + cosine,
// clipping, optional bf16 GEMMs), run for a number of epochs over shuffled examples, with the
// validation metrics before training (epoch 0) and after every epoch. Frozen parameters have no
// gradients and no optimizer state, which is where LoRA and frozen-base training save memory.
#pragma once

#include <cstdint>
#include <string>

#include "cornerstone/adapt/metrics.h"
#include "cornerstone/adapt/task_model.h"

namespace cornerstone::adapt {

struct FinetuneOptions {
  int64_t epochs = 3;
  int64_t batch_size = 8;
  float lr = 0;                 // 0: 1e-4 for full fine-tuning, 1e-3 for LoRA and heads on a frozen base
  float weight_decay = 0.01f;
  float warmup_fraction = 0.06f;
  float grad_clip = 1.0f;
  uint64_t seed = 1337;
  std::string precision = "f32";  // "f32" | "bf16"
  bool quiet = false;
  std::string metrics_path;       // JSONL of per-step losses and per-epoch validation metrics (optional)
};

struct FinetuneResult {
  int64_t steps = 0;
  int64_t trainable_parameters = 0, total_parameters = 0;
  double seconds = 0;
  double train_loss = 0;  // mean over the last epoch
  TaskMetrics val;        // classify / tag: after the last epoch (empty when no validation data)
  RetrievalMetrics retrieval;  // contrastive: after the last epoch
  LanguageMetrics language;    // sft: after the last epoch
};

FinetuneResult finetune(TaskModel& model, const std::string& train_jsonl, const std::string& val_jsonl,
                        const FinetuneOptions& options);

// Accuracy, macro-F1 and the confusion matrix of a classify / tag model on a JSONL file
// (tagging is scored per word, on each word's first token). Labels unknown to the model are errors.
TaskMetrics evaluate_task(const TaskModel& model, const std::string& jsonl, int64_t batch_size = 16);

// Response loss and perplexity of an sft model on prompt / response JSONL, each example alone.
LanguageMetrics evaluate_sft(const TaskModel& model, const std::string& jsonl, int64_t batch_size = 8);

// Retrieval quality of a model's sentence embeddings on {"query", "positive"} pairs: each query
// against every positive of the file, by cosine similarity.
RetrievalMetrics evaluate_retrieval(const TaskModel& model, const std::string& jsonl, int64_t batch_size = 32);

}  // namespace cornerstone::adapt

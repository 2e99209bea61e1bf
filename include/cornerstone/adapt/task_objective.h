// Fine-tuning tasks as objectives of the one training loop (train/objective.h,
// train/training_loop.h): classify, tag, contrastive and sft train through the same step,
// accumulation, checkpoints, resume, time budget and bf16 as pretraining.
//
// Sampling: epochs over the examples, each epoch a fresh Fisher-Yates shuffle from one generator
// seeded once (epoch e's order is the identity shuffled e + 1 times), so the batches of any step
// are a pure function of (seed, step, micro): a resumed run replays the shuffles up to its epoch
// and draws exactly the batches of a straight run. With B examples per micro-batch, A micro-
// batches per step and W processes, an epoch has ceil(N / (B A W)) steps, and micro-batch m of
// the k-th step of an epoch is the process's B examples at
//
//   order[(k A + m) B W + rank B ...]        (the epoch's last step: fewer micro-batches / rows)
//
// so accumulating A micro-batches of B draws exactly the examples of one batch of A x B. A task
// that trains U steps on each batch (TaskType::updates_per_batch: ppo's epochs over a rollout)
// has U times as many steps per epoch, steps kU ... kU + U - 1 drawing the k-th batch.
// Validation runs before training and after every epoch (train::LoopConfig::eval_every =
// steps_per_epoch()): task metrics (accuracy, macro-F1 / recall@k, MRR / response loss,
// perplexity) as a metrics.jsonl line of their own, {"epoch", "step", "train_loss", ...} as
// before the engine existed.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cornerstone/eval/metrics.h"
#include "cornerstone/adapt/preference.h"
#include "cornerstone/adapt/task_batches.h"
#include "cornerstone/adapt/task_type.h"
#include "cornerstone/adapt/task_model.h"
#include "cornerstone/train/objective.h"

namespace cornerstone::adapt {

struct TaskObjectiveOptions {
  int64_t batch_size = 8;    // examples per micro-batch (per process)
  int64_t accumulation = 1;  // micro-batches per step
  uint64_t seed = 1337;      // the shuffle's
  train::Shard shard = {};
};

class TaskObjective : public train::Objective {
 public:
  // `train`: the encoded training examples; `val_path`: validation JSONL (empty: none), read and
  // checked here, before the first step.
  TaskObjective(TaskModel& model, std::vector<Encoded> train, const std::string& val_path, TaskObjectiveOptions options);

  data::Batch sample(int64_t step, int64_t micro) const override;
  int64_t micro_batches(int64_t step, int64_t accumulation) const override;
  bool has_validation() const override { return has_val_; }
  data::Batch eval_batch(int64_t i, int64_t num_batches) const override;
  train::Validation validate(const train::ValidationRequest& request) override;
  Tensor loss(const data::Batch& batch, Rng* dropout_rng) override;
  // sft's loss is a mean over response tokens, which micro-batches and processes hold in different
  // numbers: it counts by them (the step's loss is the mean over every response token).
  int64_t loss_items(const data::Batch& batch) const override;
  double flops_per_token() const override { return 0; }  // no MFU: frozen and LoRA backward passes skip most weight gradients
  std::string describe() const override;
  void annotate(int64_t step, nlohmann::json& line) const override;
  std::string progress_note(int64_t step) const override;

  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  // The last validation's report (adapt/task_type.h).
  const TaskReport& val_report() const { return report_; }

 private:
  // The examples of epoch `epoch` in their shuffled order (cached: epochs are visited in order).
  const std::vector<size_t>& order(int64_t epoch) const;
  // The first position in the epoch's order of micro-batch `micro` of step `step`, global over processes.
  int64_t first_position(int64_t step, int64_t micro) const;

  TaskModel& m_;
  std::vector<Encoded> train_;
  TaskObjectiveOptions o_;
  int64_t updates_;  // optimizer steps per batch (TaskType::updates_per_batch)
  int64_t steps_per_epoch_;
  bool has_val_;
  EvalSet val_;         // the validation examples, read (and prepared) once
  TaskReport report_;   // the last validation's
  mutable StepLog step_log_;  // what the step in progress logs (annotate writes and clears it)
  mutable bool step_started_ = false;
  mutable std::chrono::steady_clock::time_point step_begin_;
  mutable Rng shuffle_;
  mutable int64_t shuffled_epochs_ = 0;
  mutable std::vector<size_t> order_;
};

}  // namespace cornerstone::adapt

// An objective: what the one training loop (train/training_loop.h) trains, on which batches,
// with which loss, and how it is validated. The loop knows nothing of model families or tasks,
// and objectives know families only by their capabilities (models/pretrained.h). Pretraining
// objectives:
//
//   causal_lm   windows of T + 1 tokens, next-token cross-entropy        (needs models::CausalLM)
//   masked_lm   [CLS] A [SEP] B [SEP] rows, 15% masked, cross-entropy on  (needs models::MaskedLM)
//               the masked positions only (train/masked_lm.h); config section "masking"
//   image_classification   labelled images (data/images.h: IDX, class   (needs models::ImageClassifier)
//               folders, JSONL), epochs of shuffled batches, cross-entropy; config section "augment"
//
// Objectives register themselves from their own file (src/train/objectives/), by name; a model
// family names the one it pretrains by (models::Family::pretraining_objective), and a config may
// pick another with "objective". Fine-tuning tasks (classify, tag, contrastive, sft) are
// objectives too (adapt/task_objective.h): epochs over shuffled labelled examples, validated by
// task metrics, training the task model's trainable parameters only; they run through the same
// loop and so get its accumulation, resume, time budget, bf16 and activation checkpointing.
//
// Every batch is a pure function of (seed, step, micro) (and the Shard, train/data_parallel.h):
// a resumed run draws exactly the batches a straight run would, with no saved data position.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cornerstone/data/batch.h"
#include "cornerstone/data/token_shards.h"
#include "cornerstone/models/pretrained.h"
#include "cornerstone/train/data_parallel.h"

namespace cornerstone::train {

struct PretrainConfig;

// What validate() is asked for.
struct ValidationRequest {
  int64_t step = 0;                 // optimizer steps done (0: before training)
  int64_t batches = 0;              // pretraining: how many evaluation batches
  double train_loss = std::nan(""); // mean training loss since the last validation (NaN at step 0)
};

// What validation found.
struct Validation {
  double primary = std::nan("");  // the headline number (pretraining: the val loss; a classifier: accuracy)
  nlohmann::json metrics;         // keys merged into the step's metrics.jsonl line: {"val_loss": 3.2}
  nlohmann::json record;          // a metrics.jsonl line of its own after the step's ("step" added), e.g. a
                                  // task's {"accuracy", "macro_f1", "loss", "epoch", "train_loss", ...}
  std::string summary;            // a line for the terminal; empty: the progress line shows `primary`
};

class Objective {
 public:
  virtual ~Objective() = default;
  // Micro-batch `micro` of step `step`: a pure function of the seed (exact resume).
  virtual data::Batch sample(int64_t step, int64_t micro) const = 0;
  // How many micro-batches step `step` has when the loop accumulates `accumulation` of them: all
  // of them, unless the data runs out first (an epoch's last step).
  virtual int64_t micro_batches(int64_t step, int64_t accumulation) const { return accumulation; }
  // Fixed evaluation batches from the validation split; none when there is no validation split.
  virtual bool has_validation() const = 0;
  virtual data::Batch eval_batch(int64_t i, int64_t num_batches) const = 0;
  // Validation, called without gradients and with the model in eval mode. The default: the mean
  // loss of `batches` evaluation batches, as {"val_loss": x}.
  virtual Validation validate(const ValidationRequest& request);
  // Adds the objective's own keys to a step's metrics line ({"epoch": 2}).
  virtual void annotate(int64_t step, nlohmann::json& line) const {}
  // Text before the progress line's loss ("epoch 2 | "); empty by default.
  virtual std::string progress_note(int64_t step) const { return ""; }
  // Mean loss of a batch (a (1,) tensor to back-propagate).
  virtual Tensor loss(const data::Batch& batch, Rng* dropout_rng) = 0;
  // How many items loss() averages over in `batch`, for a loss whose batches hold different numbers
  // of them (masked LM: masked tokens; sft: response tokens); -1 (the default): every batch
  // weighs the same. TrainStep then weighs each micro-batch, and under data parallelism each
  // process's, by its share of the step's items: the step's loss is the mean over all of them, as
  // one batch of the step's every row would give.
  virtual int64_t loss_items(const data::Batch& batch) const { return -1; }
  // Under data parallelism: false (the default) when loss() is the mean loss of this process's
  // rows, and the step's loss and gradients are the processes' means; true when loss() is this
  // process's part of one loss over the global batch (CLIP's, whose rows are contrasted with
  // every process's: models::ImageTextModel::contrastive_loss), and they are the processes' sums.
  virtual bool loss_sums_over_processes() const { return false; }
  // Matmul FLOPs per input token of a training step (the MFU numerator).
  virtual double flops_per_token() const = 0;
  // What a step's inputs are counted in (data::Batch's token count): "tokens", or "images" for
  // an image objective. Names the rate in metrics.jsonl ("tokens_per_s") and on the progress line.
  virtual std::string input_unit() const { return "tokens"; }
  // "causal LM" / "masked LM (15% of tokens, whole words, sentence pairs)"
  virtual std::string describe() const = 0;
};

// What an objective is built from: the model it trains (fresh from the seed, or loaded), the
// config, the token splits (null for an objective that reads other data; val may be null) and the
// data folder (its tokenizer.json, or the images an image objective opens itself).
struct ObjectiveInputs {
  models::PretrainedModel& model;
  const PretrainConfig& config;
  const data::TokenDataset* train;
  const data::TokenDataset* val;
  std::string data_dir;
  Shard shard = {};          // this process's share of each batch
  int64_t accumulation = 1;  // micro-batches per optimizer step (an epoch-based sampler numbers batches by it)
};

struct ObjectiveType {
  std::string name;     // "causal_lm"
  std::string section;  // the config section it reads ("masking"), empty when none
  bool token_data = true;  // reads token shards (the trainer opens them); false: opens its own data
  // The section checked, with defaults filled in (what the run's training.json records). `where`
  // names it in errors ("config.json.masking").
  std::function<nlohmann::json(const nlohmann::json& section, const std::string& where)> options;
  // The objective. Throws ValueError when the model lacks the capability it needs, or the data
  // and the model do not fit together (missing special tokens, ...).
  std::function<std::unique_ptr<Objective>(const ObjectiveInputs&)> make;
};

struct ObjectiveRegistration {
  explicit ObjectiveRegistration(ObjectiveType type);
};

#define CS_OBJECTIVE_CONCAT2(a, b) a##b
#define CS_OBJECTIVE_CONCAT(a, b) CS_OBJECTIVE_CONCAT2(a, b)
#define CORNERSTONE_OBJECTIVE(type_expr) \
  static const ::cornerstone::train::ObjectiveRegistration CS_OBJECTIVE_CONCAT(cs_objective_registration_, __LINE__)(type_expr);

// The objective registered as `name`; throws ValueError "<where>: unknown objective ... (known: ...)".
const ObjectiveType& objective_type(const std::string& name, const std::string& where);
std::vector<std::string> objective_names();

// The objective `config` names, over `model`, drawing B x T batches from `train` (and `val`).
// Checks that the data's vocabulary fits the model's first. Throws ValueError otherwise.
std::unique_ptr<Objective> make_objective(const ObjectiveInputs& inputs);

}  // namespace cornerstone::train

// Pretraining: a PretrainConfig's model, fresh from the seed (or another run's weights), trained by
// its objective (train/objective.h) on token shards through the one training loop
// (train/training_loop.h: AdamW, warm-up + cosine schedule, gradient accumulation to a target batch
// in tokens, global-norm clipping, periodic validation, metrics as JSONL, a progress line,
// atomic checkpoints, Ctrl-C that saves and exits, and exact resume).
//
//   RunOptions o;  o.data_dir = "data/sotu";  o.run_dir = "runs/sotu";
//   Trainer t(PretrainConfig::load("gpt2-tiny"), o);
//   TrainResult r = t.run();
//
// RUN/metrics.jsonl gets one line per step: {"step", "loss", "lr", "grad_norm", "tokens_per_s",
// "mfu", "elapsed_s"} plus "val_loss" on validation steps. MFU counts 6 N + attention FLOPs per
// token (DecoderConfig::train_flops_per_token) against the measured fp32 GEMM peak.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cornerstone/models/pretrained.h"
#include "cornerstone/train/pretrain_config.h"
#include "cornerstone/train/training_loop.h"

namespace cornerstone::train {

// A change made to the model once its weights are in place, by a layer above train: LoRA adapters
// on an image classifier (the CLI's `pretrain --lora-rank`, with adapt/lora.h).
struct ModelAdaptation {
  // Attaches it (fresh, or on resume restored from the checkpoint folder given) and returns the
  // parameters to train.
  std::function<std::vector<std::pair<std::string, Tensor>>(models::PretrainedModel&, const std::optional<std::string>& checkpoint)>
      attach;
  // Writes its own tensors into a checkpoint folder, beside the model's (unchanged) weights.
  std::function<void(const models::PretrainedModel&, const std::string& dir)> save;
  // Folds it into the weights before the finished run's model is written to the run folder.
  std::function<void(models::PretrainedModel&)> finish;
  nlohmann::json describe;  // training.json's "adaptation"
};

struct RunOptions {
  std::string data_dir;
  std::string run_dir;
  int64_t steps = 0;           // overrides training.steps when > 0
  double time_limit_s = 0;     // stop after this long (the schedule is sized to fit) when > 0
  bool resume = false;
  std::string init_from;       // start from this model folder's weights (continued pretraining, or transfer of an
                               // image classifier's backbone to other labels), not from the seed
  bool freeze_backbone = false;  // image classifiers: train the classification head only (a linear probe)
  bool quiet = false;          // no progress line (tests)
  int64_t zero = 0;            // under mpirun: 1 partitions the AdamW moments over the ranks (ZeRO-1), 2 the gradients too
  double bucket_mb = 32;       // under mpirun: the gradient buckets' size (one collective each)
  int64_t tensor_parallel = 1;  // under mpirun: processes each model replica's blocks are split over (train/tensor_parallel.h)
  // LoRA and the like (above). Checkpoints then hold the model's own weights plus the
  // adaptation's tensors (exact resume); the run folder gets the folded model when the run ends.
  std::optional<ModelAdaptation> adaptation;
};

class Trainer {
 public:
  Trainer(PretrainConfig config, RunOptions options);
  TrainResult run();

 private:
  PretrainConfig cfg_;
  RunOptions opt_;
};

}  // namespace cornerstone::train

// One optimizer step of the training engine (train/training_loop.h composes it with logging,
// the time budget and checkpoints):
//
//   M = objective.micro_batches(step, accumulation)          (the accumulation, fewer at an
//                                                              epoch's ragged end)
//   for m in 0 .. M-1:  backward( loss(batch(step, m)) / M )  gradients accumulate to those of
//                                                              the mean loss (observed by the
//                                                              sync, which may reduce them as
//                                                              the pass completes them)
//   sync.reduce(params)                                       the data-parallel seam (no-op in
//                                                              one process)
//   clip_grad_norm(params, grad_clip);  optimizer.step(lr)
//
// The reported loss is the mean of the M unscaled losses. With M = 1 nothing is scaled, so a
// step without accumulation runs exactly the arithmetic of a plain backward.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "cornerstone/core/rng.h"
#include "cornerstone/core/tensor.h"
#include "cornerstone/train/data_parallel.h"
#include "cornerstone/train/objective.h"
#include "cornerstone/train/optimizer.h"

namespace cornerstone::train {

struct StepStats {
  double loss = 0;               // mean over the micro-batches
  double grad_norm = 0;          // before clipping
  int64_t tokens = 0;            // real tokens read (padding excluded when the batch has lengths)
  size_t activation_bytes = 0;   // tensor memory a forward pass kept for its backward (the largest)
  size_t peak_bytes = 0;         // the step's peak tensor memory above what persists between steps
  size_t tensor_peak_bytes = 0;  // the step's peak tensor memory, all of it
};

class TrainStep {
 public:
  // `params`: the parameters the optimizer updates (their gradients are reduced and clipped).
  // grad_clip <= 0 disables clipping.
  // shards: tensor parallel (the gradient norm is the whole model's), else null.
  TrainStep(Objective& objective, AdamW& optimizer, std::vector<Tensor> params, GradientSync& sync, int64_t accumulation,
            double grad_clip, ParameterShards* shards = nullptr);

  // Runs step `step` (0-based) at learning rate `lr`. Throws Error when the loss is not finite
  // (before the update: the weights and the last checkpoint are intact).
  StepStats run(int64_t step, float lr, Rng* dropout_rng);

  int64_t accumulation() const { return accumulation_; }

 private:
  Objective& objective_;
  AdamW& optimizer_;
  std::vector<Tensor> params_;
  GradientSync& sync_;
  int64_t accumulation_;
  double grad_clip_;
  ParameterShards* shards_;
};

}  // namespace cornerstone::train

#include "cornerstone/train/train_step.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "cornerstone/core/allocator.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/profiler.h"
#include "cornerstone/ops/elementwise.h"

namespace cornerstone::train {

namespace {

// Real tokens of a batch: the sum of its lengths when padded, else every id; for a batch of
// images (with or without captions) the images, the unit image objectives count in.
int64_t tokens_of(const data::Batch& b) {
  if (b.has(data::batch_keys::pixels)) return b.rows();
  if (const Tensor& lengths = b[data::batch_keys::lengths]; lengths.defined()) {
    int64_t n = 0;
    const int32_t* l = lengths.data<int32_t>();
    for (int64_t i = 0; i < lengths.numel(); ++i) n += l[i];
    return n;
  }
  if (const Tensor& ids = b[data::batch_keys::ids]; ids.defined()) return ids.numel();
  return b.rows();
}

}  // namespace

TrainStep::TrainStep(Objective& objective, AdamW& optimizer, std::vector<Tensor> params, GradientSync& sync, int64_t accumulation,
                     double grad_clip)
    : objective_(objective), optimizer_(optimizer), params_(std::move(params)), sync_(sync), accumulation_(accumulation), grad_clip_(grad_clip) {
  if (accumulation_ < 1 || accumulation_ >= 65536) throw ValueError("gradient accumulation must be in [1, 65535] micro-batches");
}

StepStats TrainStep::run(int64_t step, float lr, Rng* dropout_rng) {
  StepStats s;
  optimizer_.zero_grad();
  // Tensor memory of the step: what the forward pass keeps for the backward (the activations,
  // the part activation checkpointing shrinks) and the peak, above what persists between steps.
  CachingAllocator& alloc = CachingAllocator::global();
  const size_t persistent = alloc.stats().bytes_in_use;
  alloc.reset_peak();
  const int64_t micro = objective_.micro_batches(step, accumulation_);
  // The gradient sync averages over processes; an objective whose processes each compute a part of
  // one loss needs the parts summed instead, hence the factor of the world size.
  const double parts = objective_.loss_sums_over_processes() ? static_cast<double>(sync_.shard().world) : 1.0;
  const float grad_scale = static_cast<float>(parts) / static_cast<float>(micro);
  double loss_sum = 0;
  for (int64_t m = 0; m < micro; ++m) {
    const data::Batch b = [&] {
      profiler::Scope p("data: sample batch");
      return objective_.sample(step, m);
    }();
    s.tokens += tokens_of(b);
    Tensor loss = objective_.loss(b, dropout_rng);
    s.activation_bytes = std::max(s.activation_bytes, alloc.stats().bytes_in_use - std::min(persistent, alloc.stats().bytes_in_use));
    loss_sum += loss.item();
    (grad_scale != 1.0f ? ops::scale(loss, grad_scale) : loss).backward();
  }
  s.loss = sync_.mean(loss_sum / static_cast<double>(micro)) * parts;
  if (!std::isfinite(s.loss))
    throw Error("training diverged: loss is " + std::to_string(s.loss) + " at step " + std::to_string(step) +
                " (lower the learning rate; the last checkpoint is intact)");
  {
    profiler::Scope p("optimizer: clip + AdamW");
    sync_.reduce(params_);
    s.grad_norm = clip_grad_norm(params_, grad_clip_);
    optimizer_.step(lr);
    optimizer_.gather_parameters();  // ZeRO-1: every process's updated elements to every process
  }
  s.peak_bytes = alloc.stats().peak_bytes_in_use - std::min(persistent, alloc.stats().peak_bytes_in_use);
  return s;
}

}  // namespace cornerstone::train

#include "cornerstone/train/train_step.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "cornerstone/autograd/graph.h"
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
                     double grad_clip, ParameterShards* shards)
    : objective_(objective),
      optimizer_(optimizer),
      params_(std::move(params)),
      sync_(sync),
      accumulation_(accumulation),
      grad_clip_(grad_clip),
      shards_(shards) {
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
  std::vector<data::Batch> batches;
  {
    profiler::Scope p("data: sample batch");
    for (int64_t m = 0; m < micro; ++m) batches.push_back(objective_.sample(step, m));
  }
  // Each micro-batch's loss counts with weight w[m] in the step's; the gradient sync averages over
  // processes, so weights that must add up over processes carry a factor of the world size.
  const double world = static_cast<double>(sync_.shard().world);
  std::vector<double> w(static_cast<size_t>(micro));
  const bool by_items = objective_.loss_items(batches.front()) >= 0;
  double parts = 1;  // per-row means: the logged loss is the processes' mean, or their sum (parts = world)
  if (by_items) {
    // Per-item means (tokens): each micro-batch by its share of the step's items on every process.
    double local = 0;
    for (int64_t m = 0; m < micro; ++m)
      local += w[static_cast<size_t>(m)] = static_cast<double>(objective_.loss_items(batches[static_cast<size_t>(m)]));
    const double total = sync_.mean(local) * world;
    for (double& x : w) x = total > 0 ? x / total * world : 0.0;
  } else {
    // Per-row means: micro-batches alike; processes averaged, or summed when each holds a part of one loss.
    parts = objective_.loss_sums_over_processes() ? world : 1.0;
    for (double& x : w) x = parts / static_cast<double>(micro);
  }
  double loss_sum = 0;  // by items: sum_m w[m] loss[m]; else sum_m loss[m]
  for (int64_t m = 0; m < micro; ++m) {
    const data::Batch& b = batches[static_cast<size_t>(m)];
    s.tokens += tokens_of(b);
    Tensor loss = objective_.loss(b, dropout_rng);
    s.activation_bytes = std::max(s.activation_bytes, alloc.stats().bytes_in_use - std::min(persistent, alloc.stats().bytes_in_use));
    const float wm = static_cast<float>(w[static_cast<size_t>(m)]);
    loss_sum += by_items ? static_cast<double>(wm) * loss.item() : loss.item();
    // Data parallel: the sync may reduce gradients as the pass completes them.
    autograd::ObserveBackward watch(sync_.backward_observer(params_, m, micro));
    (wm != 1.0f ? ops::scale(loss, wm) : loss).backward();
  }
  // By items, sum_m w[m] loss[m] is world x this process's part of the step's mean; the parts add
  // up to the processes' mean of it.
  s.loss = by_items ? sync_.mean(loss_sum) : sync_.mean(loss_sum / static_cast<double>(micro)) * parts;
  if (!std::isfinite(s.loss))
    throw Error("training diverged: loss is " + std::to_string(s.loss) + " at step " + std::to_string(step) +
                " (lower the learning rate; the last checkpoint is intact)");
  {
    profiler::Scope p("optimizer: clip + AdamW");
    sync_.reduce(params_);
    GradientShard* shard = sync_.gradient_shard();  // ZeRO-2: this process's range of the gradients
    s.grad_norm = shard ? clip_grad_norm(*shard, grad_clip_, sync_) : clip_grad_norm(params_, grad_clip_, shards_);
    optimizer_.step(lr, shard);
    optimizer_.gather_parameters();  // ZeRO-1: every process's updated elements to every process
  }
  s.peak_bytes = alloc.stats().peak_bytes_in_use - std::min(persistent, alloc.stats().peak_bytes_in_use);
  s.tensor_peak_bytes = alloc.stats().peak_bytes_in_use;
  return s;
}

}  // namespace cornerstone::train

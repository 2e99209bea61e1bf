#include "cornerstone/adapt/task_objective.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>

#include "cornerstone/adapt/task_data.h"
#include "cornerstone/adapt/task_type.h"
#include "cornerstone/core/error.h"

namespace cornerstone::adapt {

namespace {

constexpr std::string_view kPositive = "positive.";

// A task batch as the engine carries it: the input's ids / lengths / segments, "labels" (B) for
// classification or "targets" (B, T) per token, and a contrastive batch's documents under "positive.".
constexpr std::string_view kRefChosen = "ref_chosen", kRefRejected = "ref_rejected", kIndex = "index", kWhere = "where";

data::Batch to_batch(const BatchTensors& t, Task task) {
  data::Batch b = t.input.batch();
  b.set(kIndex, t.index);
  if (task_info(task).paired) {
    const data::Batch p = t.positive.batch();
    for (const auto& name : p.names()) b.set(std::string(kPositive) + name, p[name]);
  }
  if (task == Task::DPO) {
    b.set(data::batch_keys::targets, t.targets.view({t.input.ids.size(0), t.input.ids.size(1)}));
    b.set(std::string(kPositive) + std::string(data::batch_keys::targets),
          t.positive_targets.view({t.positive.ids.size(0), t.positive.ids.size(1)}));
    b.set(kRefChosen, t.ref_chosen).set(kRefRejected, t.ref_rejected);
  } else if (task_info(task).paired || task == Task::GRPO || task == Task::PPO) {
    // contrastive, reward: the two sides are all (positive.* above); grpo: the prompts (and the index)
  } else if (task == Task::Classify) {
    b.set(data::batch_keys::labels, t.targets);
  } else {
    b.set(data::batch_keys::targets, t.targets.view({t.input.ids.size(0), t.input.ids.size(1)}));
  }
  return b;
}

PaddedBatch padded(const data::Batch& b) {
  PaddedBatch p;
  p.ids = b[data::batch_keys::ids];
  p.lengths = b[data::batch_keys::lengths];
  p.segments = b[data::batch_keys::segments];
  return p;
}

// The examples come back from `data` by their index.
BatchTensors from_batch(const data::Batch& b, Task task, const std::vector<Encoded>& data) {
  BatchTensors t;
  t.input = padded(b);
  t.index = b.get(kIndex, task_name(task));
  if (b.has(kWhere)) {
    const std::vector<int32_t> w = b[kWhere].to_int_vector();
    t.batch_number = w[0], t.update = w[1], t.micro = w[2];
  }
  for (int32_t i : t.index.to_int_vector()) t.examples.push_back(&data.at(static_cast<size_t>(i)));
  if (task_info(task).paired) t.positive = padded(b.sub(kPositive));
  if (task == Task::DPO) {
    const Tensor& c = b.get(data::batch_keys::targets, "dpo");
    const Tensor& r = b.get(std::string(kPositive) + std::string(data::batch_keys::targets), "dpo");
    t.targets = c.view({c.numel()});
    t.positive_targets = r.view({r.numel()});
    t.ref_chosen = b.get(kRefChosen, "dpo");
    t.ref_rejected = b.get(kRefRejected, "dpo");
  } else if (task_info(task).paired || task == Task::GRPO || task == Task::PPO) {
    // contrastive, reward: the two sides are all; grpo: the prompts, and the examples by index
  } else if (task == Task::Classify) {
    t.targets = b.get(data::batch_keys::labels, "classify");
  } else {
    const Tensor& targets = b.get(data::batch_keys::targets, task_name(task));
    t.targets = targets.view({targets.numel()});
  }
  return t;
}

}  // namespace

TaskObjective::TaskObjective(TaskModel& model, std::vector<Encoded> train, const std::string& val_path, TaskObjectiveOptions options)
    : m_(model), train_(std::move(train)), o_(options), has_val_(!val_path.empty()), shuffle_(options.seed) {
  if (o_.batch_size <= 0 || o_.accumulation <= 0) throw ValueError("finetune: the batch size and the accumulation must be positive");
  if (train_.empty()) throw ValueError("finetune: no training examples");
  const int64_t per_step = o_.batch_size * o_.accumulation * o_.shard.world;
  updates_ = task_type(m_.spec().task).updates_per_batch(m_);
  steps_per_epoch_ = (static_cast<int64_t>(train_.size()) + per_step - 1) / per_step * updates_;
  if (has_val_) val_ = task_type(m_.spec().task).read_eval(m_, val_path, o_.batch_size);  // read and checked before training starts
}

const std::vector<size_t>& TaskObjective::order(int64_t epoch) const {
  if (shuffled_epochs_ > epoch + 1 || order_.empty()) {  // start over: identity, no shuffle yet
    shuffle_ = Rng(o_.seed);
    order_.resize(train_.size());
    std::iota(order_.begin(), order_.end(), 0);
    shuffled_epochs_ = 0;
  }
  for (; shuffled_epochs_ < epoch + 1; ++shuffled_epochs_)
    for (size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[shuffle_.below(i)]);  // Fisher-Yates
  return order_;
}

int64_t TaskObjective::first_position(int64_t step, int64_t micro) const {
  const int64_t k = step % steps_per_epoch_ / updates_;  // the batch within the epoch
  return (k * o_.accumulation + micro) * o_.batch_size * o_.shard.world;
}

int64_t TaskObjective::micro_batches(int64_t step, int64_t accumulation) const {
  const int64_t n = static_cast<int64_t>(train_.size());
  int64_t m = 0;
  while (m < accumulation && first_position(step, m) < n) ++m;
  return std::max<int64_t>(m, 1);
}

data::Batch TaskObjective::sample(int64_t step, int64_t micro) const {
  const std::vector<size_t>& ord = order(step / steps_per_epoch_);
  const int64_t n = static_cast<int64_t>(ord.size());
  // This process's rows of the micro-batch; a process whose share is past the end takes the last
  // example again (only with several processes: every process must run a backward).
  int64_t begin = first_position(step, micro) + o_.shard.first_row(o_.batch_size);
  int64_t end = std::min(n, begin + o_.batch_size);
  if (begin >= n) begin = n - 1, end = n;
  data::Batch b = to_batch(make_batch(train_, ord, static_cast<size_t>(begin), static_cast<size_t>(end), m_.spec().task, m_.spec().max_length),
                           m_.spec().task);
  if (updates_ > 1)
    b.set(kWhere, Tensor::from_data({3}, std::vector<int32_t>{static_cast<int32_t>(step / updates_), static_cast<int32_t>(step % updates_),
                                                              static_cast<int32_t>(micro)}));
  return b;
}

data::Batch TaskObjective::eval_batch(int64_t, int64_t) const {
  throw UnsupportedError("fine-tuning validates by task metrics (TaskObjective::validate), not on loss batches");
}

Tensor TaskObjective::loss(const data::Batch& batch, Rng* dropout_rng) {
  if (!step_started_) step_started_ = true, step_begin_ = std::chrono::steady_clock::now();
  return task_type(m_.spec().task).loss(m_, from_batch(batch, m_.spec().task, train_), dropout_rng, &step_log_);
}

int64_t TaskObjective::loss_items(const data::Batch& batch) const {
  if (m_.spec().task != Task::SFT) return -1;
  int64_t n = 0;
  for (int32_t t : batch.get(data::batch_keys::targets, "sft").contiguous().to_int_vector()) n += t >= 0;
  return n;
}

train::Validation TaskObjective::validate(const train::ValidationRequest& request) {
  const int64_t epoch = (request.step + steps_per_epoch_ - 1) / steps_per_epoch_;  // epochs begun (an epoch cut short by --time counts)
  report_ = task_type(m_.spec().task).evaluate(m_, val_, o_.batch_size);
  train::Validation v;
  v.record = report_.json;
  v.primary = report_.primary;
  v.record["epoch"] = epoch;
  char line[256];
  if (request.step == 0) {
    std::snprintf(line, sizeof line, "before training: %s", report_.summary.c_str());
  } else {
    v.record["train_loss"] = request.train_loss;
    std::snprintf(line, sizeof line, "epoch %lld: train loss %.4f | %s", static_cast<long long>(epoch), request.train_loss,
                  report_.summary.c_str());
  }
  v.summary = line;
  return v;
}

std::string TaskObjective::describe() const { return task_name(m_.spec().task) + " fine-tuning"; }

void TaskObjective::annotate(int64_t step, nlohmann::json& line) const {
  line["epoch"] = (step + steps_per_epoch_ - 1) / steps_per_epoch_;
  if (step_started_)  // the step's wall time, from its first micro-batch's loss to here (backward and update included)
    step_log_.total("step_s", std::chrono::duration<double>(std::chrono::steady_clock::now() - step_begin_).count());
  step_started_ = false;
  step_log_.write(line, m_.spec().task == Task::DPO ? "rewards/" : "reward/");
}

std::string TaskObjective::progress_note(int64_t step) const {
  return "epoch " + std::to_string((step + steps_per_epoch_ - 1) / steps_per_epoch_) + " | ";
}

}  // namespace cornerstone::adapt

// The fine-tuning tasks, each registered from its own file (src/adapt/tasks/<task>.cpp) with what
// the rest of adapt needs of it: how its JSONL is read and encoded, the loss that trains it, and
// the metrics that validate and evaluate it. The training loop (adapt/task_objective.h),
// `finetune` and `evaluate` (cornerstone.h) go through task_type(), never through a chain of
// task names. Batch layout (which tensors a task's examples fill) is shared: make_batch
// (adapt/task_batches.h) by the task's traits.
//
//   class MineTask : public TaskType {
//     TaskInfo info() const override { return {Task::Mine, "mine", "what it learns", ...}; }
//     std::vector<Encoded> read(const TaskModel& m, const std::string& path, bool training) const override;
//     Tensor loss(const TaskModel& m, const BatchTensors& b, Rng* rng, StepLog* log) const override;
//     TaskReport evaluate(const TaskModel& m, const EvalSet& set, int64_t batch) const override;
//   };
//   CORNERSTONE_TASK(MineTask)
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cornerstone/adapt/preference.h"
#include "cornerstone/adapt/task_batches.h"
#include "cornerstone/adapt/task_model.h"

namespace cornerstone::adapt {

// What a task logs per training step (keys of the step's metrics.jsonl line), gathered over the
// step's micro-batches.
struct StepLog {
  PreferenceMetrics pairs;  // reward: "reward/chosen", ...; dpo: "rewards/chosen", ... (TRL's names)
  // Other keys: logged as their mean over the step's micro-batches, or as their total.
  void mean(const std::string& key, double value, int64_t n = 1);
  void total(const std::string& key, double value);
  // Writes the keys into `line` (pairs under `pairs_prefix`) and clears the log.
  void write(nlohmann::json& line, const std::string& pairs_prefix);

 private:
  std::map<std::string, std::pair<double, int64_t>> means_;
  std::map<std::string, double> totals_;
};

// What a validation or an evaluation found.
struct TaskReport {
  std::string metric;    // "classification", "tagging", "retrieval", "response-loss", "preference"
  nlohmann::json json;   // the metrics (a metrics.jsonl record, `evaluate --json`)
  std::string table;     // for people
  std::string summary;   // one line: "val accuracy 0.91 | val macro-F1 0.88"
  double primary = 0;    // the headline number
};

// The examples a task is scored on: encoded, and (contrastive) the texts themselves.
struct EvalSet {
  std::vector<Encoded> examples;
  std::vector<std::string> queries, documents;
};

class TaskType {
 public:
  virtual ~TaskType() = default;
  virtual TaskInfo info() const = 0;
  // The examples of a JSONL file; `training`: for training (sft may pack them). Bad lines are
  // errors naming the file, line and field.
  virtual std::vector<Encoded> read(const TaskModel& m, const std::string& path, bool training) const = 0;
  // Called once before the first step with the model as it starts (dpo: the reference's
  // log-probabilities). Also for validation sets.
  virtual void prepare(const TaskModel& m, std::vector<Encoded>& examples, int64_t batch) const {}
  // False when prepare() needs the starting model, which a checkpoint no longer is.
  virtual bool resumable() const { return true; }
  // Optimizer steps each batch trains (ppo: the epochs over one rollout); the steps of a batch
  // see the same examples, told apart by BatchTensors::update.
  virtual int64_t updates_per_batch(const TaskModel& m) const { return 1; }
  // Training state a checkpoint carries besides the weights (ppo: the rollout being trained on),
  // written into the checkpoint's folder before it is published; read back on --resume.
  virtual void save_state(const TaskModel& m, const std::string& dir) const {}
  virtual void load_state(const TaskModel& m, const std::string& dir) const {}
  // What validation and `evaluate` score: the file's examples, prepared.
  virtual EvalSet read_eval(const TaskModel& m, const std::string& path, int64_t batch) const;
  // The mean loss of a batch; the task adds what it logs per step to `log` when given.
  virtual Tensor loss(const TaskModel& m, const BatchTensors& b, Rng* rng, StepLog* log) const = 0;
  // Metrics in eval mode without gradients.
  virtual TaskReport evaluate(const TaskModel& m, const EvalSet& set, int64_t batch) const = 0;
  // `evaluate --data FILE` of a finished model of this task (default: read_eval + evaluate).
  virtual TaskReport evaluate_file(const TaskModel& m, const std::string& path, int64_t batch) const;
};

// The registered task; ValueError for one that is not registered.
const TaskType& task_type(Task t);

struct TaskRegistration {
  explicit TaskRegistration(std::unique_ptr<TaskType> type);
};

#define CS_TASK_CONCAT2(a, b) a##b
#define CS_TASK_CONCAT(a, b) CS_TASK_CONCAT2(a, b)
#define CORNERSTONE_TASK(Type) \
  static const ::cornerstone::adapt::TaskRegistration CS_TASK_CONCAT(cs_task_registration_, __LINE__)(std::make_unique<Type>());

}  // namespace cornerstone::adapt

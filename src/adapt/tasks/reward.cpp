// reward: a scalar head trained with the pairwise Bradley-Terry loss on {"prompt", "chosen",
// "rejected"} (adapt/preference.h); pairwise accuracy, mean scores and margin.
#include "cornerstone/adapt/task_type.h"

namespace cornerstone::adapt {

namespace {

class RewardTask : public TaskType {
 public:
  TaskInfo info() const override {
    return {Task::Reward, "reward", "a scalar reward model from (prompt, chosen, rejected) pairs", false, true, 1, "SEQ_CLS"};
  }

  std::vector<Encoded> read(const TaskModel& m, const std::string& path, bool) const override {
    std::vector<Encoded> out;
    for (const auto& p : read_preference_pairs(path)) {
      Encoded x;
      x.input = response_input(m, p.prompt, p.chosen);
      x.positive = response_input(m, p.prompt, p.rejected);
      out.push_back(std::move(x));
    }
    return out;
  }

  Tensor loss(const TaskModel& m, const BatchTensors& b, Rng* rng, StepLog* log) const override {
    const int64_t B = b.input.ids.size(0);
    const Tensor chosen = m.classifier()->logits(b.input.ids, b.input.lengths, b.input.segments, rng).view({B});
    const Tensor rejected = m.classifier()->logits(b.positive.ids, b.positive.lengths, b.positive.segments, rng).view({B});
    Tensor loss = bradley_terry_loss(chosen, rejected);
    if (log) log->pairs.add(chosen.detach().to_vector(), rejected.detach().to_vector(), loss.item());
    return loss;
  }

  TaskReport evaluate(const TaskModel& m, const EvalSet& set, int64_t batch) const override {
    return preference_report(evaluate_preferences(m, set.examples, batch), "");
  }
};

}  // namespace

CORNERSTONE_TASK(RewardTask)

}  // namespace cornerstone::adapt

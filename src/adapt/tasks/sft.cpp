// sft: instruction tuning of a decoder, next-token loss on the responses (adapt/instruction.h);
// response loss and perplexity.
#include "cornerstone/adapt/task_type.h"

namespace cornerstone::adapt {

namespace {

class SftTask : public TaskType {
 public:
  TaskInfo info() const override { return {Task::SFT, "sft", "instruction tuning on (prompt, response) pairs", true, false, 0, "CAUSAL_LM"}; }

  std::vector<Encoded> read(const TaskModel& m, const std::string& path, bool training) const override {
    return encode_sft(m, path, training && m.spec().packing, nullptr);  // evaluation never packs
  }

  Tensor loss(const TaskModel& m, const BatchTensors& b, Rng* rng, StepLog*) const override { return sft_loss(m, b, rng); }

  TaskReport evaluate(const TaskModel& m, const EvalSet& set, int64_t batch) const override { return response_loss_report(m, set.examples, batch); }
};

}  // namespace

CORNERSTONE_TASK(SftTask)

}  // namespace cornerstone::adapt

// classify (a label per text or text pair) and tag (a label per word): cross-entropy on the
// head's logits; accuracy, macro-F1 and the confusion matrix.
#include "cornerstone/adapt/task_data.h"
#include "cornerstone/adapt/task_type.h"
#include "cornerstone/core/error.h"
#include "cornerstone/ops/loss.h"

namespace cornerstone::adapt {

namespace {

// Validation and `evaluate` score in batches of this many whatever the training batch, so that a
// reloaded model's metrics equal the run's own to the last bit (padding differs with the batch).
constexpr int64_t kEvalBatch = 16;

TaskReport labels_report(const std::string& metric, const eval::TaskMetrics& r) {
  char s[160];
  std::snprintf(s, sizeof s, "val accuracy %.4f | val macro-F1 %.4f", r.accuracy, r.macro_f1);
  return {metric, r.to_json(), r.table(), s, r.accuracy};
}

// Both: cross-entropy on the head's logits (a row per text or per token), scored by label.
class LabelsTask : public TaskType {
 public:
  explicit LabelsTask(const char* metric) : metric_(metric) {}
  Tensor loss(const TaskModel& m, const BatchTensors& b, Rng* rng, StepLog*) const override {
    return ops::cross_entropy(batch_logits(m, b, rng), b.targets);
  }
  TaskReport evaluate(const TaskModel& m, const EvalSet& set, int64_t) const override {
    return labels_report(metric_, evaluate_encoded(m, set.examples, kEvalBatch));
  }

 private:
  const char* metric_;
};

class ClassifyTask : public LabelsTask {
 public:
  ClassifyTask() : LabelsTask("classification") {}
  TaskInfo info() const override { return {Task::Classify, "classify", "a label per text or text pair", false, false, -1, "SEQ_CLS"}; }

  std::vector<Encoded> read(const TaskModel& m, const std::string& path, bool) const override {
    std::vector<Encoded> out;
    for (const auto& e : read_classification(path)) {
      const std::string where = path + ":" + std::to_string(e.line);
      Encoded x;
      if (!e.text_pair) {
        x.input = m.inputs().text(e.text);
      } else {
        try {
          x.input = m.inputs().pair(e.text, *e.text_pair);
        } catch (const UnsupportedError& err) {  // a pair without a separator to join it
          throw ValueError(where + ": \"text_pair\": " + err.what());
        }
      }
      x.label = label_index(m.spec().labels, e.label, where + ": \"label\"");
      out.push_back(std::move(x));
    }
    return out;
  }

};

class TagTask : public LabelsTask {
 public:
  TagTask() : LabelsTask("tagging") {}
  TaskInfo info() const override { return {Task::Tag, "tag", "a label per word", false, false, 0, "TOKEN_CLS"}; }

  std::vector<Encoded> read(const TaskModel& m, const std::string& path, bool) const override {
    std::vector<Encoded> out;
    for (const auto& e : read_tagging(path)) {
      const std::string where = path + ":" + std::to_string(e.line);
      Encoded x;
      x.input = m.inputs().words(e.tokens);
      x.token_targets.assign(x.input.ids.size(), -1);
      for (size_t i = 0; i < x.input.ids.size(); ++i)
        if (const int32_t w = x.input.word_of[i]; w >= 0)
          x.token_targets[i] = label_index(m.spec().labels, e.tags[static_cast<size_t>(w)], where + ": \"tags\"[" + std::to_string(w) + "]");
      out.push_back(std::move(x));
    }
    return out;
  }

};

}  // namespace

CORNERSTONE_TASK(ClassifyTask)
CORNERSTONE_TASK(TagTask)

}  // namespace cornerstone::adapt

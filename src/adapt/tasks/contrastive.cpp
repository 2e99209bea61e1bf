// contrastive: sentence embeddings trained with in-batch negatives (InfoNCE, adapt/embedding.h);
// recall@1/5 and MRR of each query's own positive among all the file's positives.
#include "cornerstone/adapt/embedding.h"
#include "cornerstone/adapt/task_data.h"
#include "cornerstone/adapt/task_type.h"

namespace cornerstone::adapt {

namespace {

class ContrastiveTask : public TaskType {
 public:
  TaskInfo info() const override {
    return {Task::Contrastive, "contrastive", "sentence embeddings from (query, positive) pairs", false, true, 0, "FEATURE_EXTRACTION"};
  }

  std::vector<Encoded> read(const TaskModel& m, const std::string& path, bool) const override {
    std::vector<Encoded> out;
    for (const auto& p : read_retrieval_pairs(path)) {
      Encoded x;
      x.input = m.inputs().text(p.query);
      x.positive = m.inputs().text(p.positive);
      if (!p.negative.empty()) x.negative = m.inputs().text(p.negative), x.has_negative = true;
      out.push_back(std::move(x));
    }
    return out;
  }

  // Scored on the texts: every query against every positive of the file.
  EvalSet read_eval(const TaskModel&, const std::string& path, int64_t) const override {
    EvalSet s;
    for (const auto& p : read_retrieval_pairs(path)) s.queries.push_back(p.query), s.documents.push_back(p.positive);
    return s;
  }

  Tensor loss(const TaskModel& m, const BatchTensors& b, Rng* rng, StepLog*) const override {
    const Pooling p = m.spec().pooling;
    return info_nce(embed_batch(m.base(), b.input, p, rng), embed_batch(m.base(), b.positive, p, rng), m.spec().temperature);
  }

  TaskReport evaluate(const TaskModel& m, const EvalSet& set, int64_t) const override {
    // A fixed batch (as the labels tasks): validation and `evaluate` embed alike.
    const eval::RetrievalMetrics r = evaluate_pairs(m, set.queries, set.documents, 32);
    char s[160];
    std::snprintf(s, sizeof s, "val recall@1 %.4f | val MRR %.4f", r.recall_at_1, r.mrr);
    return {"retrieval", r.to_json(), r.table(), s, r.recall_at_1};
  }
};

}  // namespace

CORNERSTONE_TASK(ContrastiveTask)

}  // namespace cornerstone::adapt

// dpo: direct preference optimisation of a decoder on {"prompt", "chosen", "rejected"}, rendered
// as sft renders them, against the reference log-probabilities of the starting model
// (adapt/preference.h); the implicit rewards' accuracy and margin.
#include <algorithm>

#include "cornerstone/adapt/task_type.h"
#include "cornerstone/core/error.h"
#include "cornerstone/ops/elementwise.h"

namespace cornerstone::adapt {

namespace {

class DpoTask : public TaskType {
 public:
  TaskInfo info() const override {
    return {Task::DPO, "dpo", "direct preference optimisation on (prompt, chosen, rejected) pairs", true, true, 0, "CAUSAL_LM"};
  }

  std::vector<Encoded> read(const TaskModel& m, const std::string& path, bool) const override {
    const tokenize::ChatTemplate t = tokenize::chat_template(m.spec().chat_template);
    std::vector<Encoded> out;
    for (const auto& p : read_preference_pairs(path)) {
      SftRow chosen = encode_instruction({p.prompt, p.chosen, "", p.line}, t, m.tokenizer());
      SftRow rejected = encode_instruction({p.prompt, p.rejected, "", p.line}, t, m.tokenizer());
      if (!cut_row(chosen, m.spec().max_length) || !cut_row(rejected, m.spec().max_length))
        throw ValueError(path + ":" + std::to_string(p.line) + ": the prompt fills --max-length " + std::to_string(m.spec().max_length) +
                         " tokens: no response token is left to score");
      Encoded x;
      x.input.ids = std::move(chosen.ids), x.token_targets = std::move(chosen.targets);
      x.positive.ids = std::move(rejected.ids), x.positive_targets = std::move(rejected.targets);
      out.push_back(std::move(x));
    }
    return out;
  }

  // The reference: the starting model (the base; under LoRA the base with its adapters off), also
  // when a resumed run's weights are a checkpoint's.
  void prepare(const TaskModel& m, std::vector<Encoded>& examples, int64_t batch) const override {
    add_reference_logprobs(m, examples, batch);
  }

  Tensor loss(const TaskModel& m, const BatchTensors& b, Rng* rng, StepLog* log) const override {
    // One pair at a time through the loss (each log-probability is its own (1,) tensor), then the mean.
    const auto [c, r] = pair_logprobs(m, b, rng);
    const std::vector<float> rc = b.ref_chosen.to_vector(), rr = b.ref_rejected.to_vector();
    const float beta = m.spec().beta;
    const DpoLoss kind = dpo_loss_from_name(m.spec().dpo_loss);
    Tensor sum;
    std::vector<float> chosen_rewards, rejected_rewards;
    for (size_t i = 0; i < c.size(); ++i) {
      chosen_rewards.push_back(beta * (c[i].item() - rc[i]));
      rejected_rewards.push_back(beta * (r[i].item() - rr[i]));
      const Tensor l = dpo_loss(c[i], r[i], Tensor::full({1}, rc[i]), Tensor::full({1}, rr[i]), beta, kind);
      sum = sum.defined() ? ops::add(sum, l) : l;
    }
    Tensor loss = ops::scale(sum, 1.0f / static_cast<float>(c.size()));
    if (log) log->pairs.add(chosen_rewards, rejected_rewards, loss.item());
    // RPO (Pang et al. 2024, TRL's rpo_alpha): plus alpha x the chosen responses' negative
    // log-likelihood, a mean over their tokens, which keeps DPO from lowering the likelihood of
    // the right answers along with the wrong ones'.
    if (const float alpha = m.spec().rpo_alpha; alpha > 0) {
      int64_t tokens = 0;
      for (int32_t t : b.targets.contiguous().to_int_vector()) tokens += t >= 0;
      Tensor logp_sum;
      for (const Tensor& x : c) logp_sum = logp_sum.defined() ? ops::add(logp_sum, x) : x;
      const Tensor nll = ops::scale(logp_sum, -1.0f / static_cast<float>(std::max<int64_t>(tokens, 1)));
      if (log) log->mean("rewards/nll", nll.item());
      loss = ops::add(loss, ops::scale(nll, alpha));
    }
    return loss;
  }

  TaskReport evaluate(const TaskModel& m, const EvalSet& set, int64_t batch) const override {
    return preference_report(evaluate_preferences(m, set.examples, batch), "rewards/");
  }

  // A finished dpo model has no reference left to score pairs against: it is a language model,
  // scored like sft on {"prompt", "response"} (or by `evaluate --tasks`).
  TaskReport evaluate_file(const TaskModel& m, const std::string& path, int64_t batch) const override {
    return response_loss_report(m, encode_sft(m, path, false, nullptr), batch);
  }
};

}  // namespace

CORNERSTONE_TASK(DpoTask)

}  // namespace cornerstone::adapt

// grpo: on-policy reinforcement learning from a verifiable reward on {"prompt", "answer"}
// (adapt/grpo.h); validation and `evaluate`: the exact-match accuracy of greedy answers.
#include "cornerstone/adapt/grpo.h"
#include "cornerstone/adapt/task_batches.h"
#include "cornerstone/adapt/task_model.h"
#include "cornerstone/adapt/task_type.h"
#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/core/error.h"
#include "cornerstone/ops/elementwise.h"
#include "cornerstone/ops/loss.h"
#include "rollout.h"

#include <algorithm>

namespace cornerstone::adapt {

namespace {

class GrpoTask : public TaskType {
 public:
  TaskInfo info() const override {
    return {Task::GRPO, "grpo", "reinforcement learning from a verifiable reward on (prompt, answer) pairs", true, false, 0, "CAUSAL_LM"};
  }

  std::vector<Encoded> read(const TaskModel& m, const std::string& path, bool) const override { return rollout::read_problems(m, path); }

  // The reference for full fine-tuning: a frozen copy of the starting model, opened from the base
  // (also when a resumed run's weights are a checkpoint's; under LoRA the base itself, its
  // adapters switched off while it scores). Completions are sampled with seeds from the run's
  // generator, which a checkpoint saves: a resumed run samples what a straight one would.
  // A reward model, when one gives the rewards, is loaded once too.
  void prepare(const TaskModel& m, std::vector<Encoded>&, int64_t) const override { resources_.prepare(m, "grpo"); }

  Tensor loss(const TaskModel& m, const BatchTensors& b, Rng* rng, StepLog* log) const override {
    const GrpoOptions& o = m.spec().grpo;
    const int64_t G = o.group;
    // 1-2. G completions per prompt in one batched generation, their rewards and training rows.
    const rollout::Samples smp = rollout::sample(m, b, G, rng ? rng->next_u64() : 0, resources_, "grpo");
    const size_t sampled = smp.generations.size();

    // The rows that train: all of them, or (--skip-equal-groups) the groups whose rewards differ.
    std::vector<int64_t> rows;
    if (o.skip_equal_groups) {
      for (int64_t first : informative_groups(smp.rewards, G))
        for (int64_t i = first; i < first + G; ++i) rows.push_back(i);
    } else {
      for (size_t i = 0; i < sampled; ++i) rows.push_back(static_cast<int64_t>(i));
    }
    const bool all_rows = rows.size() == sampled;
    // Nothing to learn from: a zero loss on one row keeps the step's graph (and its bookkeeping).
    const bool idle = rows.empty();
    if (idle) rows.push_back(0);
    const size_t N = rows.size();
    const Tensor ids = all_rows ? smp.ids : select_rows(smp.ids, rows);
    const Tensor tgt = all_rows ? smp.targets : select_rows(smp.targets, rows);
    std::vector<float> rewards(N);
    std::vector<int64_t> counts(N);
    for (size_t k = 0; k < N; ++k) {
      rewards[k] = smp.rewards[static_cast<size_t>(rows[k])];
      counts[k] = smp.counts[static_cast<size_t>(rows[k])];
    }

    // 3. The policy's per-token losses (with gradients) and the reference's log-probabilities.
    const models::GPT& policy = decoder(m);
    const Tensor hidden = policy.hidden(ids, 0, rng);  // (N, T, C)
    std::vector<Tensor> ce(N);
    std::vector<double> logp(N);
    for (size_t i = 0; i < N; ++i) {
      ce[i] = ops::lm_head_cross_entropy(hidden.select(0, static_cast<int64_t>(i)), policy.lm_head_weight(), Tensor(),
                                         tgt.select(0, static_cast<int64_t>(i)).contiguous());  // mean over the completion
      logp[i] = -static_cast<double>(ce[i].item()) * static_cast<double>(counts[i]);
    }
    Tensor loss = ops::scale(ce[0], 0.0f);  // keeps the graph when every advantage is 0
    double kl_sum = 0;
    if (!idle) {
      const std::vector<double> ref = reference_logprobs(m, ids, tgt);
      // 4. Group-normalised reward advantages minus the centred KL penalty, the policy-gradient loss.
      std::vector<double> kl(N);
      for (size_t i = 0; i < N; ++i) kl_sum += (kl[i] = logp[i] - ref[i]);
      const std::vector<float> adv = grpo_advantages(rewards, kl, G, o.kl);
      for (size_t i = 0; i < N; ++i)
        if (adv[i] != 0.0f && counts[i] > 0) loss = ops::add(loss, ops::scale(ce[i], adv[i] / static_cast<float>(N)));
    }
    if (log) {
      double r = 0;
      for (float x : smp.rewards) r += x;
      const auto n = static_cast<int64_t>(sampled);
      log->mean("grpo/reward", r / static_cast<double>(sampled), n);  // of everything sampled
      if (!idle) log->mean("grpo/kl", kl_sum / static_cast<double>(N), static_cast<int64_t>(N));  // of the rows that trained
      log->mean("grpo/completion_tokens", static_cast<double>(smp.completion_tokens) / static_cast<double>(sampled), n);
      log->mean("grpo/trained_rows", idle ? 0.0 : static_cast<double>(N) / static_cast<double>(sampled), n);
      log->total("grpo/sample_s", smp.seconds);
    }
    return loss;
  }

  TaskReport evaluate(const TaskModel& m, const EvalSet& set, int64_t batch) const override {
    return rollout::evaluate_exact_match(m, set, batch);
  }

 private:
  // Sequence log-probabilities of the rows' targets under the reference, without gradients.
  std::vector<double> reference_logprobs(const TaskModel& m, const Tensor& ids, const Tensor& targets) const {
    autograd::NoGradGuard no_grad;
    const models::GPT* ref = resources_.reference(m, "grpo");
    const rollout::AdaptersOff off(m);
    const std::vector<Tensor> lp = sequence_logprobs(ref ? *ref : decoder(m), ids, targets, nullptr);
    std::vector<double> out;
    for (const Tensor& t : lp) out.push_back(t.item());
    return out;
  }

  // The rows `rows` of a contiguous (N, T) i32 tensor, as a new (rows, T) tensor.
  static Tensor select_rows(const Tensor& t, const std::vector<int64_t>& rows) {
    const int64_t T = t.size(1);
    const int32_t* src = t.data<int32_t>();
    std::vector<int32_t> out(rows.size() * static_cast<size_t>(T));
    for (size_t k = 0; k < rows.size(); ++k) std::copy(src + rows[k] * T, src + (rows[k] + 1) * T, out.begin() + static_cast<std::ptrdiff_t>(k) * T);
    return Tensor::from_data({static_cast<int64_t>(rows.size()), T}, out);
  }

  mutable rollout::Resources resources_;
};

}  // namespace

CORNERSTONE_TASK(GrpoTask)

}  // namespace cornerstone::adapt

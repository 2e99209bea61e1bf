// grpo: on-policy reinforcement learning from a verifiable reward on {"prompt", "answer"}
// (adapt/grpo.h); validation and `evaluate`: the exact-match accuracy of greedy answers.
#include <chrono>
#include <map>
#include <mutex>

#include "cornerstone/adapt/grpo.h"
#include "cornerstone/adapt/lora.h"
#include "cornerstone/adapt/task_batches.h"
#include "cornerstone/adapt/task_data.h"
#include "cornerstone/adapt/task_model.h"
#include "cornerstone/adapt/task_type.h"
#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/core/error.h"
#include "cornerstone/infer/generator.h"
#include "cornerstone/interop/open_model.h"
#include "cornerstone/ops/elementwise.h"
#include "cornerstone/ops/loss.h"

namespace cornerstone::adapt {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The policy's weights packed for the KV-cache runner. Packing reads the base weights, so under
// LoRA the adapters are folded into them for the copy and the weights restored exactly after.
infer::InferenceWeights policy_weights(const TaskModel& m) {
  models::PretrainedModel& base = m.base();
  if (m.spec().mode != AdaptMode::LoRA) return infer::InferenceWeights::from_model(base, kernels::WeightFormat::F32);
  autograd::NoGradGuard no_grad;
  std::vector<std::pair<Tensor, Tensor>> saved;  // (weight, its values before folding)
  for (const models::LinearSite& site : base.linear_sites()) {
    if (!site.layer->adapter()) continue;
    if (!site.layer->weight().defined())
      throw UnsupportedError("grpo samples from the policy with its adapters folded in; a " +
                             std::string(dtype_name(m.spec().lora.base_storage)) + " base cannot take them: use --base-precision f32");
    saved.emplace_back(site.layer->weight(), site.layer->weight().clone());
  }
  merge_lora(base);
  infer::InferenceWeights w = infer::InferenceWeights::from_model(base, kernels::WeightFormat::F32);
  for (auto& [weight, values] : saved) weight.detach().copy_from(values);
  set_lora_active(base, true);
  return w;
}

// Generation options for the model's chat template (its end of turn stops a completion).
infer::GenerateOptions generate_options(const TaskModel& m, int64_t max_tokens) {
  const tokenize::ChatTemplate t = tokenize::chat_template(m.spec().chat_template);
  infer::GenerateOptions o;
  o.max_tokens = max_tokens;
  o.stop = t.stop_strings;
  o.stop_tokens = t.stop_token_ids(m.tokenizer());
  return o;
}

// The token that ended a completion, which the policy learns to produce: the template's end of
// turn or the end-of-text token.
std::optional<int32_t> end_token(const TaskModel& m, const infer::Generation& g) {
  if (g.finish_reason == "eos") return m.tokenizer().eos_id();
  if (g.finish_reason == "stop") {
    const auto ids = tokenize::chat_template(m.spec().chat_template).stop_token_ids(m.tokenizer());
    if (!ids.empty()) return ids.front();
  }
  return std::nullopt;
}

class GrpoTask : public TaskType {
 public:
  TaskInfo info() const override {
    return {Task::GRPO, "grpo", "reinforcement learning from a verifiable reward on (prompt, answer) pairs", true, false, 0, "CAUSAL_LM"};
  }

  std::vector<Encoded> read(const TaskModel& m, const std::string& path, bool) const override {
    const tokenize::ChatTemplate t = tokenize::chat_template(m.spec().chat_template);
    std::vector<Encoded> out;
    for (const auto& e : read_answers(path)) {
      Encoded x;
      x.prompt_text = tokenize::render_chat({{"user", e.prompt}}, t, /*add_generation_prompt=*/true);
      x.input.ids = m.tokenizer().encode(x.prompt_text);
      if (static_cast<int64_t>(x.input.ids.size()) >= m.spec().max_length)
        throw ValueError(path + ":" + std::to_string(e.line) + ": the prompt fills --max-length " + std::to_string(m.spec().max_length) +
                         " tokens: no room for a completion");
      x.prompt = e.prompt;
      x.answer = e.answer.substr(e.answer.find_first_not_of(" \t"));
      x.answer = x.answer.substr(0, x.answer.find_last_not_of(" \t\r\n") + 1);
      check_reward_answer(m.spec().grpo.reward, x.answer, path + ":" + std::to_string(e.line));
      out.push_back(std::move(x));
    }
    return out;
  }

  // The reference for full fine-tuning: a frozen copy of the starting model, opened from the base
  // (also when a resumed run's weights are a checkpoint's; under LoRA the base itself, its
  // adapters switched off while it scores). Completions are sampled with seeds from the run's
  // generator, which a checkpoint saves: a resumed run samples what a straight one would.
  // A reward model, when one gives the rewards, is loaded once too.
  void prepare(const TaskModel& m, std::vector<Encoded>&, int64_t) const override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (const std::string& dir = m.spec().grpo.reward_model; !dir.empty() && !reward_models_.count(&m)) {
      auto rm = std::make_shared<TaskModel>(TaskModel::load(dir));
      if (rm->spec().task != Task::Reward)
        throw ValueError("--reward-model '" + dir + "' is a " + task_name(rm->spec().task) + " model, not a reward model (`finetune --task reward`)");
      rm->module().eval();
      reward_models_[&m] = std::move(rm);
    }
    if (m.spec().mode == AdaptMode::LoRA || references_.count(&m)) return;
    auto ref = interop::open_pretrained(m.spec().base).model;
    ref->set_requires_grad(false);
    ref->eval();
    references_[&m] = std::move(ref);
  }

  Tensor loss(const TaskModel& m, const BatchTensors& b, Rng* rng, StepLog* log) const override {
    const GrpoOptions& o = m.spec().grpo;
    const int64_t G = o.group;
    // 1. Sample G completions per prompt, all in one batched generation.
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::string> prompts;
    for (const Encoded* e : b.examples)
      for (int64_t g = 0; g < G; ++g) prompts.push_back(e->prompt_text);
    infer::GenerateOptions go = generate_options(m, o.max_new_tokens);
    go.sampling.temperature = o.temperature;
    go.seed = rng ? rng->next_u64() : 0;  // the run's generator: a function of the seed and the step
    std::vector<infer::Generation> gens;
    {
      autograd::NoGradGuard no_grad;
      gens = infer::Generator(policy_weights(m), m.tokenizer()).generate(prompts, go);
    }
    const double sample_s = seconds_since(t0);

    // 2. Rewards, and the training rows: prompt + completion, targets on the completion.
    const size_t N = prompts.size();
    std::vector<float> rewards(N);
    std::vector<std::vector<int32_t>> rows(N), targets(N);
    int64_t T = 1, completion_tokens = 0;
    if (!o.reward_model.empty()) rewards = reward_model_scores(m, b, gens, G);
    for (size_t i = 0; i < N; ++i) {
      const Encoded& e = *b.examples[i / static_cast<size_t>(G)];
      if (o.reward_model.empty()) rewards[i] = verifiable_reward(o.reward, gens[i].text, e.answer, o.marker);
      rows[i] = e.input.ids;
      std::vector<int32_t> completion = gens[i].tokens;
      if (const auto end = end_token(m, gens[i])) completion.push_back(*end);
      rows[i].insert(rows[i].end(), completion.begin(), completion.end());
      targets[i].assign(rows[i].size(), -1);
      for (size_t k = e.input.ids.size(); k < rows[i].size(); ++k) targets[i][k - 1] = rows[i][k];
      if (static_cast<int64_t>(rows[i].size()) > m.spec().max_length) {
        rows[i].resize(static_cast<size_t>(m.spec().max_length));
        targets[i].resize(rows[i].size());
        targets[i].back() = -1;
      }
      T = std::max<int64_t>(T, static_cast<int64_t>(rows[i].size()));
      completion_tokens += static_cast<int64_t>(completion.size());
    }
    std::vector<int32_t> ids_flat(N * static_cast<size_t>(T), 0), targets_flat(N * static_cast<size_t>(T), -1);
    std::vector<int64_t> counts(N, 0);
    for (size_t i = 0; i < N; ++i) {
      std::copy(rows[i].begin(), rows[i].end(), ids_flat.begin() + static_cast<int64_t>(i) * T);
      std::copy(targets[i].begin(), targets[i].end(), targets_flat.begin() + static_cast<int64_t>(i) * T);
      for (int32_t x : targets[i]) counts[i] += x >= 0;
    }
    const Tensor ids = Tensor::from_data({static_cast<int64_t>(N), T}, ids_flat);
    const Tensor tgt = Tensor::from_data({static_cast<int64_t>(N), T}, targets_flat);

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
    const std::vector<double> ref = reference_logprobs(m, ids, tgt);

    // 4. KL-penalised rewards, group-normalised advantages, the policy-gradient loss.
    std::vector<float> shaped(N);
    double kl_sum = 0;
    for (size_t i = 0; i < N; ++i) {
      const double kl = logp[i] - ref[i];
      kl_sum += kl;
      shaped[i] = static_cast<float>(rewards[i] - o.kl * kl);
    }
    const std::vector<float> adv = group_advantages(shaped, G);
    Tensor loss = ops::scale(ce[0], 0.0f);  // keeps the graph when every advantage is 0
    for (size_t i = 0; i < N; ++i)
      if (adv[i] != 0.0f && counts[i] > 0) loss = ops::add(loss, ops::scale(ce[i], adv[i] / static_cast<float>(N)));
    if (log) {
      double r = 0;
      for (float x : rewards) r += x;
      log->mean("grpo/reward", r / static_cast<double>(N), static_cast<int64_t>(N));
      log->mean("grpo/kl", kl_sum / static_cast<double>(N), static_cast<int64_t>(N));
      log->mean("grpo/completion_tokens", static_cast<double>(completion_tokens) / static_cast<double>(N), static_cast<int64_t>(N));
      log->total("grpo/sample_s", sample_s);
    }
    return loss;
  }

  TaskReport evaluate(const TaskModel& m, const EvalSet& set, int64_t batch) const override {
    std::vector<std::string> prompts;
    for (const Encoded& e : set.examples) prompts.push_back(e.prompt_text);
    infer::GenerateOptions go = generate_options(m, m.spec().grpo.max_new_tokens);
    go.sampling.greedy = true;
    std::vector<infer::Generation> gens;
    {
      autograd::NoGradGuard no_grad;
      const infer::Generator gen(policy_weights(m), m.tokenizer());
      for (size_t s = 0; s < prompts.size(); s += static_cast<size_t>(std::max<int64_t>(batch, 1))) {
        const std::vector<std::string> part(prompts.begin() + static_cast<std::ptrdiff_t>(s),
                                            prompts.begin() + static_cast<std::ptrdiff_t>(std::min(prompts.size(), s + static_cast<size_t>(std::max<int64_t>(batch, 1)))));
        for (auto& g : gen.generate(part, go)) gens.push_back(std::move(g));
      }
    }
    double right = 0;
    for (size_t i = 0; i < gens.size(); ++i)
      right += verifiable_reward(m.spec().grpo.reward, gens[i].text, set.examples[i].answer, m.spec().grpo.marker);
    const double acc = gens.empty() ? 0.0 : right / static_cast<double>(gens.size());
    char s[160];
    std::snprintf(s, sizeof s, "val exact match %.4f", acc);
    char table[160];
    std::snprintf(table, sizeof table, "exact match %.4f | %zu prompts, greedy\n", acc, gens.size());
    return {"exact-match", {{"exact_match", acc}, {"documents", static_cast<int64_t>(gens.size())}}, table, s, acc};
  }

 private:
  // The reward model's scores of (prompt as written, completion), in batches, without gradients.
  std::vector<float> reward_model_scores(const TaskModel& m, const BatchTensors& b, const std::vector<infer::Generation>& gens,
                                         int64_t G) const {
    std::shared_ptr<TaskModel> rm;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto it = reward_models_.find(&m);
      if (it == reward_models_.end()) throw ValueError("grpo: the reward model is not loaded (TaskType::prepare was not called)");
      rm = it->second;
    }
    autograd::NoGradGuard no_grad;
    std::vector<ModelInput> inputs;
    for (size_t i = 0; i < gens.size(); ++i) inputs.push_back(response_input(*rm, b.examples[i / static_cast<size_t>(G)]->prompt, gens[i].text));
    std::vector<float> out;
    constexpr size_t kBatch = 16;
    for (size_t s = 0; s < inputs.size(); s += kBatch) {
      std::vector<const ModelInput*> part;
      for (size_t i = s; i < std::min(inputs.size(), s + kBatch); ++i) part.push_back(&inputs[i]);
      const PaddedBatch pb = pad_batch(part, 1, rm->spec().max_length);
      const Tensor scores = rm->classifier()->logits(pb.ids, pb.lengths, pb.segments, nullptr).view({static_cast<int64_t>(part.size())});
      for (float x : scores.to_vector()) out.push_back(x);
    }
    return out;
  }

  // Sequence log-probabilities of the rows' targets under the reference, without gradients.
  std::vector<double> reference_logprobs(const TaskModel& m, const Tensor& ids, const Tensor& targets) const {
    autograd::NoGradGuard no_grad;
    const models::GPT* ref = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto it = references_.find(&m);
      if (it != references_.end()) ref = dynamic_cast<const models::GPT*>(it->second.get());
    }
    const bool lora = m.spec().mode == AdaptMode::LoRA;
    if (!ref && !lora) throw ValueError("grpo: no reference model (TaskType::prepare was not called)");
    if (lora) set_lora_active(m.base(), false);
    const std::vector<Tensor> lp = sequence_logprobs(ref ? *ref : decoder(m), ids, targets, nullptr);
    if (lora) set_lora_active(m.base(), true);
    std::vector<double> out;
    for (const Tensor& t : lp) out.push_back(t.item());
    return out;
  }

  mutable std::mutex mutex_;
  mutable std::map<const TaskModel*, std::shared_ptr<models::PretrainedModel>> references_;
  mutable std::map<const TaskModel*, std::shared_ptr<TaskModel>> reward_models_;
};

}  // namespace

CORNERSTONE_TASK(GrpoTask)

}  // namespace cornerstone::adapt

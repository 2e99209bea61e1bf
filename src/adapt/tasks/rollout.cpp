#include "rollout.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "cornerstone/adapt/grpo.h"
#include "cornerstone/adapt/lora.h"
#include "cornerstone/adapt/task_batches.h"
#include "cornerstone/adapt/task_data.h"
#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/core/error.h"
#include "cornerstone/interop/open_model.h"
#include "cornerstone/tokenize/chat_template.h"

namespace cornerstone::adapt::rollout {

namespace {

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
      throw UnsupportedError(task_name(m.spec().task) + " samples from the policy with its adapters folded in; a " +
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

// The reward model's scores of (prompt as written, completion), in batches, without gradients.
std::vector<float> reward_model_scores(const TaskModel& rm, const BatchTensors& b, const std::vector<infer::Generation>& gens, int64_t G) {
  autograd::NoGradGuard no_grad;
  std::vector<ModelInput> inputs;
  for (size_t i = 0; i < gens.size(); ++i) inputs.push_back(response_input(rm, b.examples[i / static_cast<size_t>(G)]->prompt, gens[i].text));
  std::vector<float> out;
  constexpr size_t kBatch = 16;
  for (size_t s = 0; s < inputs.size(); s += kBatch) {
    std::vector<const ModelInput*> part;
    for (size_t i = s; i < std::min(inputs.size(), s + kBatch); ++i) part.push_back(&inputs[i]);
    const PaddedBatch pb = pad_batch(part, 1, rm.spec().max_length);
    const Tensor scores = rm.classifier()->logits(pb.ids, pb.lengths, pb.segments, nullptr).view({static_cast<int64_t>(part.size())});
    for (float x : scores.to_vector()) out.push_back(x);
  }
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

std::vector<Encoded> read_problems(const TaskModel& m, const std::string& path) {
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
    x.answer = reward_answer(e.answer);
    check_reward_answer(m.spec().grpo.reward, x.answer, path + ":" + std::to_string(e.line));
    out.push_back(std::move(x));
  }
  return out;
}

void Resources::prepare(const TaskModel& m, const char* task) {
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
  if (!dynamic_cast<const models::GPT*>(ref.get())) throw UnsupportedError(std::string(task) + " needs a decoder base model");
  ref->set_requires_grad(false);
  ref->eval();
  references_[&m] = std::move(ref);
}

const models::GPT* Resources::reference(const TaskModel& m, const char* task) const {
  if (m.spec().mode == AdaptMode::LoRA) return nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = references_.find(&m);
  if (it == references_.end()) throw ValueError(std::string(task) + ": no reference model (TaskType::prepare was not called)");
  return dynamic_cast<const models::GPT*>(it->second.get());
}

std::shared_ptr<TaskModel> Resources::reward_model(const TaskModel& m, const char* task) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = reward_models_.find(&m);
  if (it == reward_models_.end()) throw ValueError(std::string(task) + ": the reward model is not loaded (TaskType::prepare was not called)");
  return it->second;
}

AdaptersOff::AdaptersOff(const TaskModel& m) : m_(m), lora_(m.spec().mode == AdaptMode::LoRA) {
  if (lora_) set_lora_active(m_.base(), false);
}

AdaptersOff::~AdaptersOff() {
  if (lora_) set_lora_active(m_.base(), true);
}

Samples sample(const TaskModel& m, const BatchTensors& b, int64_t G, uint64_t seed, const Resources& resources, const char* task) {
  const GrpoOptions& o = m.spec().grpo;
  // 1. G completions per prompt, all in one batched generation.
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> prompts;
  for (const Encoded* e : b.examples)
    for (int64_t g = 0; g < G; ++g) prompts.push_back(e->prompt_text);
  infer::GenerateOptions go = generate_options(m, o.max_new_tokens);
  go.sampling.temperature = o.temperature;
  go.seed = seed;
  Samples s;
  {
    autograd::NoGradGuard no_grad;
    s.generations = infer::Generator(policy_weights(m), m.tokenizer()).generate(prompts, go);
  }
  s.seconds = seconds_since(t0);

  // 2. Rewards, and the training rows: prompt + completion, targets on the completion.
  const size_t N = prompts.size();
  s.rewards.resize(N);
  if (!o.reward_model.empty()) s.rewards = reward_model_scores(*resources.reward_model(m, task), b, s.generations, G);
  std::vector<std::vector<int32_t>> rows(N), targets(N);
  int64_t T = 1;
  s.first.assign(N, 0);
  s.counts.assign(N, 0);
  for (size_t i = 0; i < N; ++i) {
    const Encoded& e = *b.examples[i / static_cast<size_t>(G)];
    const infer::Generation& g = s.generations[i];
    if (o.reward_model.empty()) s.rewards[i] = verifiable_reward(o.reward, g.text, e.answer, o.marker);
    rows[i] = e.input.ids;
    std::vector<int32_t> completion = g.tokens;
    if (const auto end = end_token(m, g)) completion.push_back(*end);
    rows[i].insert(rows[i].end(), completion.begin(), completion.end());
    targets[i].assign(rows[i].size(), -1);
    for (size_t k = e.input.ids.size(); k < rows[i].size(); ++k) targets[i][k - 1] = rows[i][k];
    if (static_cast<int64_t>(rows[i].size()) > m.spec().max_length) {
      rows[i].resize(static_cast<size_t>(m.spec().max_length));
      targets[i].resize(rows[i].size());
      targets[i].back() = -1;
    }
    T = std::max<int64_t>(T, static_cast<int64_t>(rows[i].size()));
    s.completion_tokens += static_cast<int64_t>(completion.size());
    s.first[i] = static_cast<int64_t>(e.input.ids.size()) - 1;
    for (int32_t x : targets[i]) s.counts[i] += x >= 0;
  }
  std::vector<int32_t> ids_flat(N * static_cast<size_t>(T), 0), targets_flat(N * static_cast<size_t>(T), -1);
  for (size_t i = 0; i < N; ++i) {
    std::copy(rows[i].begin(), rows[i].end(), ids_flat.begin() + static_cast<int64_t>(i) * T);
    std::copy(targets[i].begin(), targets[i].end(), targets_flat.begin() + static_cast<int64_t>(i) * T);
  }
  s.ids = Tensor::from_data({static_cast<int64_t>(N), T}, ids_flat);
  s.targets = Tensor::from_data({static_cast<int64_t>(N), T}, targets_flat);
  return s;
}

TaskReport evaluate_exact_match(const TaskModel& m, const EvalSet& set, int64_t batch) {
  std::vector<std::string> prompts;
  for (const Encoded& e : set.examples) prompts.push_back(e.prompt_text);
  infer::GenerateOptions go = generate_options(m, m.spec().grpo.max_new_tokens);
  go.sampling.greedy = true;
  std::vector<infer::Generation> gens;
  {
    autograd::NoGradGuard no_grad;
    const infer::Generator gen(policy_weights(m), m.tokenizer());
    const size_t step = static_cast<size_t>(std::max<int64_t>(batch, 1));
    for (size_t s = 0; s < prompts.size(); s += step) {
      const std::vector<std::string> part(prompts.begin() + static_cast<std::ptrdiff_t>(s),
                                          prompts.begin() + static_cast<std::ptrdiff_t>(std::min(prompts.size(), s + step)));
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

}  // namespace cornerstone::adapt::rollout

// GRPO: group relative policy optimisation (Shao et al. 2024, DeepSeekMath) with verifiable
// rewards (`finetune --task grpo`, src/adapt/tasks/grpo.cpp). Per step, for each of B prompts
// ({"prompt", "answer"} JSONL, rendered in the model's chat template):
//
//   sample      G completions from the current policy, all B x G in one batched generation
//               through the KV-cache runner (infer/generator.h), at `temperature`
//   reward      r = 1 when the completion's answer (after the last marker) equals "answer", else 0
//               (--reward exact-match); or matches "answer" read as a regular expression, in full
//               (--reward regex: PCRE2, UTF-8, e.g. "42(\\.0+)?" takes 42 and 42.00); or the score
//               of a reward model (--reward-model DIR: a `finetune --task reward` folder, reading
//               the prompt as written and the completion, as it was trained)
//   advantage   A_i = (r_i - mean(r_group)) / (std(r_group) + 1e-4)             (std unbiased, as TRL's)
//                     - kl * (KL_i - mean(KL_group))
//               with KL_i = log pi(completion i) - log pi_ref(completion i), the sequence
//               log-probabilities of the policy and of the reference (the starting model; under
//               LoRA the base with its adapters switched off). The KL term is the score-function
//               estimate of the KL penalty's gradient (Ziegler et al. 2019's penalty in the reward),
//               centred within the group as a baseline but not normalised: it keeps its scale of
//               `kl` x nats. (Normalising the penalised reward instead, as this code did before,
//               turns a group of equal rewards into advantages of unit size made of KL noise, so
//               most of each step pushed towards the reference at full strength.)
//   loss        mean_i A_i * (mean over completion i's tokens of -log pi(token)): one policy
//               gradient step per sampling (the importance ratio is 1, so no clipping is needed)
//
// A group whose completions all earn the same reward teaches only the (small) KL term. With
// `skip_equal_groups` (--skip-equal-groups; DAPO's dynamic sampling, Yu et al. 2025, without its
// refill of the batch) such groups are left out of the training pass: the forward and backward run
// on the informative groups' rows alone (the step gets cheaper by the share of groups dropped), and
// the loss averages over them. A step whose groups are all equal has a zero gradient (the
// optimizer still steps: AdamW's momentum and weight decay move the weights a little, as after any step).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace cornerstone::adapt {

struct GrpoOptions {
  int64_t group = 4;              // completions sampled per prompt
  float kl = 0.04f;               // KL penalty coefficient
  int64_t max_new_tokens = 64;    // per completion
  float temperature = 1.0f;       // sampling temperature (> 0)
  std::string reward = "exact-match";
  std::string marker = "Answer:"; // the answer follows its last occurrence
  std::string reward_model;       // a reward-model folder whose score is the reward (replaces `reward`)
  bool skip_equal_groups = false; // grpo: leave groups of equal rewards out of the training pass

  nlohmann::json to_json() const;
  static GrpoOptions from_json(const nlohmann::json& j, const std::string& where, int64_t min_group = 2);
  // ValueError naming the option; `min_group`: the fewest completions per prompt the task can
  // learn from (GRPO compares a group's completions: 2; PPO has a value baseline: 1).
  void validate(int64_t min_group = 2) const;
};

// Rewards of B groups of `group` consecutive completions -> their reward advantages (above,
// without the KL term).
std::vector<float> group_advantages(const std::vector<float>& rewards, int64_t group);
// The whole advantages (above): the rewards' group advantages minus `kl_coef` x each sequence's
// KL to the reference, centred within its group.
std::vector<float> grpo_advantages(const std::vector<float>& rewards, const std::vector<double>& kl, int64_t group, float kl_coef);

// The first row of each group of `group` consecutive rewards that are not all equal (the groups
// that teach something beyond the KL term), in order.
std::vector<int64_t> informative_groups(const std::vector<float>& rewards, int64_t group);

// The built-in verifiable rewards, by name ("exact-match", "regex"); ValueError listing them for
// another, and for a regex answer that does not compile (naming it and the error).
float verifiable_reward(const std::string& name, const std::string& completion, const std::string& answer, const std::string& marker);
std::vector<std::string> verifiable_reward_names();
// A data file's "answer" as the rewards compare it: without surrounding whitespace (a completion's
// answer is trimmed the same way).
std::string reward_answer(const std::string& answer);
// Throws ValueError naming `where` when `answer` is not a valid answer for reward `name` (a regex
// that does not compile), so that bad data fails when it is read, not mid-run.
void check_reward_answer(const std::string& name, const std::string& answer, const std::string& where);

}  // namespace cornerstone::adapt

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
//   KL penalty  r' = r - kl * (log pi(completion) - log pi_ref(completion)), the sequence
//               log-probabilities of the policy and of the reference (the starting model; under
//               LoRA the base with its adapters switched off): the KL to the reference as a
//               penalty in the reward (Ziegler et al. 2019) rather than a separate loss term
//   advantage   A_i = (r'_i - mean(r'_group)) / (std(r'_group) + 1e-4), std unbiased as TRL's
//   loss        mean_i A_i * (mean over completion i's tokens of -log pi(token)): one policy
//               gradient step per sampling (the importance ratio is 1, so no clipping is needed)
//
// A group whose completions all earn the same reward has zero advantages and teaches nothing.
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

  nlohmann::json to_json() const;
  static GrpoOptions from_json(const nlohmann::json& j, const std::string& where, int64_t min_group = 2);
  // ValueError naming the option; `min_group`: the fewest completions per prompt the task can
  // learn from (GRPO compares a group's completions: 2; PPO has a value baseline: 1).
  void validate(int64_t min_group = 2) const;
};

// Rewards of B groups of `group` consecutive completions -> their advantages (above).
std::vector<float> group_advantages(const std::vector<float>& rewards, int64_t group);

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

// Preference pairs from a model's own samples (`cornerstone sample`): the on-policy data of
// rejection-sampling DPO (Liu et al. 2024, "Statistical Rejection Sampling Improves Preference
// Optimization"; Pang et al. 2024, "Iterative Reasoning Preference Optimization").
//
// For each {"prompt", "answer"} problem, `samples` completions are drawn from the model (the
// caller's sampler: batched generation at a temperature) and graded with a verifiable reward
// (adapt/grpo.h: exact match after the marker, or a regex). A problem with at least one right and
// one wrong completion gives up to `pairs_per_prompt` pairs {"prompt", "chosen": a right
// completion, "rejected": a wrong one}, drawn without repetition from the distinct right x wrong
// combinations with the seed; problems the model always or never solves give none (DPO could
// learn nothing from them that the reward can tell).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cornerstone/adapt/preference.h"
#include "cornerstone/adapt/task_data.h"

namespace cornerstone::adapt {

struct SelfPairOptions {
  int64_t samples = 8;              // completions per problem
  std::string reward = "exact-match";
  std::string marker = "Answer:";   // the answer follows its last occurrence
  int64_t pairs_per_prompt = 1;
  int64_t batch = 32;               // problems per sampler call (each call asks batch x samples completions)
  uint64_t seed = 1;

  void validate() const;  // ValueError naming the option
};

// Completions of one problem and their rewards, in sampling order.
struct GradedProblem {
  std::string prompt, answer;
  std::vector<std::string> completions;
  std::vector<float> rewards;
};

// prompts (as written, one entry per completion wanted), seed -> completions, one per entry.
// Entry i of a call draws from seed + i: the results depend on the seed and the batch only.
using Sampler = std::function<std::vector<std::string>(const std::vector<std::string>& prompts, uint64_t seed)>;

// Samples and grades every problem; `progress` (may be null) hears problems done after each call.
std::vector<GradedProblem> sample_and_grade(const std::vector<AnswerExample>& problems, const Sampler& sample,
                                            const SelfPairOptions& options,
                                            const std::function<void(int64_t done)>& progress = nullptr);

struct SelfPairSummary {
  int64_t problems = 0, completions = 0;
  double mean_reward = 0;      // share of right completions
  double pass_at_k = 0;        // share of problems with at least one right completion (k = samples)
  int64_t mixed_problems = 0;  // with both a right and a wrong completion: the ones that give pairs
  int64_t pairs = 0;
};

// The pairs of graded problems (above); `summary` (may be null) receives the counts.
std::vector<PreferencePair> self_preference_pairs(const std::vector<GradedProblem>& graded, const SelfPairOptions& options,
                                                  SelfPairSummary* summary = nullptr);

// One JSON line per pair, TRL's preference format {"prompt", "chosen", "rejected"}.
std::string preference_pairs_jsonl(const std::vector<PreferencePair>& pairs);
// One JSON line per problem: {"prompt", "answer", "completions": [...], "rewards": [...]}.
std::string graded_problems_jsonl(const std::vector<GradedProblem>& graded);

}  // namespace cornerstone::adapt

#include "cornerstone/adapt/self_pairs.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "cornerstone/adapt/grpo.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"

namespace cornerstone::adapt {

void SelfPairOptions::validate() const {
  if (samples < 2) throw ValueError("--samples must be at least 2 (a pair needs a right and a wrong completion), got " + std::to_string(samples));
  if (pairs_per_prompt < 1) throw ValueError("--pairs-per-prompt must be positive, got " + std::to_string(pairs_per_prompt));
  if (batch < 1) throw ValueError("--batch must be positive, got " + std::to_string(batch));
  verifiable_reward(reward, "", "", marker);  // a known name
}

namespace {

// Sampled text may hold bytes that are not UTF-8 (a byte-level model can split a character):
// written with U+FFFD in their place rather than failing the whole file.
constexpr auto kReplace = nlohmann::json::error_handler_t::replace;

}  // namespace

std::vector<GradedProblem> sample_and_grade(const std::vector<AnswerExample>& problems, const Sampler& sample, const SelfPairOptions& o,
                                            const std::function<void(int64_t)>& progress) {
  o.validate();
  std::vector<GradedProblem> out;
  out.reserve(problems.size());
  for (const AnswerExample& p : problems) {
    const std::string answer = reward_answer(p.answer);
    check_reward_answer(o.reward, answer, "problem at line " + std::to_string(p.line));
    out.push_back({p.prompt, answer, {}, {}});
  }
  const size_t S = static_cast<size_t>(o.samples), B = static_cast<size_t>(o.batch);
  for (size_t first = 0; first < out.size(); first += B) {
    const size_t last = std::min(out.size(), first + B);
    std::vector<std::string> prompts;
    for (size_t i = first; i < last; ++i) prompts.insert(prompts.end(), S, out[i].prompt);
    // Each call's seed moves past the previous call's sequences: no two completions share a stream.
    const std::vector<std::string> texts = sample(prompts, o.seed + static_cast<uint64_t>(first * S));
    if (texts.size() != prompts.size())
      throw ValueError("sample_and_grade: the sampler returned " + std::to_string(texts.size()) + " completions for " +
                       std::to_string(prompts.size()) + " prompts");
    for (size_t k = 0; k < texts.size(); ++k) {
      GradedProblem& g = out[first + k / S];
      g.completions.push_back(texts[k]);
      g.rewards.push_back(verifiable_reward(o.reward, texts[k], g.answer, o.marker));
    }
    if (progress) progress(static_cast<int64_t>(last));
  }
  return out;
}

std::vector<PreferencePair> self_preference_pairs(const std::vector<GradedProblem>& graded, const SelfPairOptions& o,
                                                  SelfPairSummary* summary) {
  o.validate();
  SelfPairSummary s;
  std::vector<PreferencePair> pairs;
  Rng rng(o.seed);
  double right_total = 0;
  int64_t line = 0;
  for (const GradedProblem& g : graded) {
    ++line;
    s.completions += static_cast<int64_t>(g.completions.size());
    // Distinct texts only: the same completion sampled twice is one candidate.
    std::vector<std::string> right, wrong;
    for (size_t i = 0; i < g.completions.size(); ++i) {
      right_total += g.rewards[i] > 0.5f;
      std::vector<std::string>& side = g.rewards[i] > 0.5f ? right : wrong;
      if (std::find(side.begin(), side.end(), g.completions[i]) == side.end()) side.push_back(g.completions[i]);
    }
    s.pass_at_k += !right.empty();
    if (right.empty() || wrong.empty()) continue;
    ++s.mixed_problems;
    // Up to pairs_per_prompt of the right x wrong combinations, without repetition: a partial
    // Fisher-Yates shuffle of their indices.
    std::vector<size_t> combos(right.size() * wrong.size());
    for (size_t c = 0; c < combos.size(); ++c) combos[c] = c;
    const size_t take = std::min(combos.size(), static_cast<size_t>(o.pairs_per_prompt));
    for (size_t c = 0; c < take; ++c) {
      std::swap(combos[c], combos[c + static_cast<size_t>(rng.below(combos.size() - c))]);
      const size_t r = combos[c] / wrong.size(), w = combos[c] % wrong.size();
      pairs.push_back({g.prompt, right[r], wrong[w], line});
    }
  }
  s.problems = static_cast<int64_t>(graded.size());
  s.pairs = static_cast<int64_t>(pairs.size());
  if (s.completions > 0) s.mean_reward = right_total / static_cast<double>(s.completions);
  if (s.problems > 0) s.pass_at_k /= static_cast<double>(s.problems);
  if (summary) *summary = s;
  return pairs;
}

std::string preference_pairs_jsonl(const std::vector<PreferencePair>& pairs) {
  std::string out;
  for (const PreferencePair& p : pairs) out += nlohmann::json{{"prompt", p.prompt}, {"chosen", p.chosen}, {"rejected", p.rejected}}.dump(-1, ' ', false, kReplace) + "\n";
  return out;
}

std::string graded_problems_jsonl(const std::vector<GradedProblem>& graded) {
  std::string out;
  for (const GradedProblem& g : graded)
    out += nlohmann::json{{"prompt", g.prompt}, {"answer", g.answer}, {"completions", g.completions}, {"rewards", g.rewards}}.dump(-1, ' ', false, kReplace) + "\n";
  return out;
}

}  // namespace cornerstone::adapt

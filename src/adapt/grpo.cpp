#include "cornerstone/adapt/grpo.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>

#include "cornerstone/core/error.h"
#include "cornerstone/eval/harness.h"

namespace cornerstone::adapt {

nlohmann::json GrpoOptions::to_json() const {
  return {{"group", group},   {"kl", kl},         {"max_new_tokens", max_new_tokens}, {"temperature", temperature},
          {"reward", reward}, {"marker", marker}, {"reward_model", reward_model}, {"skip_equal_groups", skip_equal_groups}};
}

GrpoOptions GrpoOptions::from_json(const nlohmann::json& j, const std::string& where, int64_t min_group) {
  GrpoOptions o;
  try {
    o.group = j.at("group").get<int64_t>();
    o.kl = j.at("kl").get<float>();
    o.max_new_tokens = j.at("max_new_tokens").get<int64_t>();
    o.temperature = j.at("temperature").get<float>();
    o.reward = j.at("reward").get<std::string>();
    o.marker = j.at("marker").get<std::string>();
    o.reward_model = j.value("reward_model", std::string());  // absent in runs from before reward models
    o.skip_equal_groups = j.value("skip_equal_groups", false);  // absent in runs from before it
    o.validate(min_group);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(where + ": " + e.what());
  } catch (const ValueError& e) {
    throw FormatError(where + ": " + e.what());
  }
  return o;
}

void GrpoOptions::validate(int64_t min_group) const {
  if (group < min_group)
    throw ValueError("--group must be at least " + std::to_string(min_group) +
                     (min_group > 1 ? " (advantages compare completions of one prompt)" : "") + ", got " + std::to_string(group));
  if (!(kl >= 0)) throw ValueError("--kl must be >= 0");
  if (max_new_tokens < 1) throw ValueError("--max-new-tokens must be positive");
  if (!(temperature > 0)) throw ValueError("--temperature must be positive (grpo samples)");
  verifiable_reward(reward, "", "", marker);  // a known name
  if (!reward_model.empty() && !std::filesystem::exists(std::filesystem::path(reward_model) / "task.json"))
    throw ValueError("--reward-model '" + reward_model + "' is not a finished `finetune --task reward` folder (it has no task.json)");
}

std::vector<float> group_advantages(const std::vector<float>& rewards, int64_t group) {
  if (group < 2 || rewards.size() % static_cast<size_t>(group) != 0)
    throw ValueError("group_advantages: " + std::to_string(rewards.size()) + " rewards do not make groups of " + std::to_string(group));
  std::vector<float> out(rewards.size());
  const size_t G = static_cast<size_t>(group);
  for (size_t s = 0; s < rewards.size(); s += G) {
    double mean = 0, var = 0;
    for (size_t i = s; i < s + G; ++i) mean += rewards[i];
    mean /= static_cast<double>(G);
    for (size_t i = s; i < s + G; ++i) var += (rewards[i] - mean) * (rewards[i] - mean);
    const double sd = std::sqrt(var / static_cast<double>(G - 1));  // unbiased, as torch.std
    for (size_t i = s; i < s + G; ++i) out[i] = static_cast<float>((rewards[i] - mean) / (sd + 1e-4));
  }
  return out;
}

std::vector<float> grpo_advantages(const std::vector<float>& rewards, const std::vector<double>& kl, int64_t group, float kl_coef) {
  if (kl.size() != rewards.size())
    throw ValueError("grpo_advantages: " + std::to_string(kl.size()) + " KL values for " + std::to_string(rewards.size()) + " rewards");
  std::vector<float> out = group_advantages(rewards, group);
  const size_t G = static_cast<size_t>(group);
  for (size_t s = 0; s < out.size(); s += G) {
    double mean = 0;
    for (size_t i = s; i < s + G; ++i) mean += kl[i];
    mean /= static_cast<double>(G);
    for (size_t i = s; i < s + G; ++i) out[i] -= static_cast<float>(kl_coef * (kl[i] - mean));
  }
  return out;
}

std::vector<int64_t> informative_groups(const std::vector<float>& rewards, int64_t group) {
  if (group < 1 || rewards.size() % static_cast<size_t>(group) != 0)
    throw ValueError("informative_groups: " + std::to_string(rewards.size()) + " rewards do not make groups of " + std::to_string(group));
  std::vector<int64_t> out;
  for (size_t s = 0; s < rewards.size(); s += static_cast<size_t>(group)) {
    const auto [lo, hi] = std::minmax_element(rewards.begin() + static_cast<std::ptrdiff_t>(s),
                                              rewards.begin() + static_cast<std::ptrdiff_t>(s) + group);
    if (*lo != *hi) out.push_back(static_cast<int64_t>(s));
  }
  return out;
}

namespace {

// `pattern` compiled to match a whole subject (anchored at both ends), UTF-8 with Unicode
// properties (a subject that is not valid UTF-8 matches nothing: PCRE2 reports it as an error
// rather than matching around the bad bytes); ValueError naming `where`, the offset and PCRE2's message when it does not compile.
std::shared_ptr<pcre2_code> full_match_pattern(const std::string& pattern, const std::string& where) {
  int code = 0;
  PCRE2_SIZE at = 0;
  pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                 PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED | PCRE2_ENDANCHORED, &code, &at, nullptr);
  if (!re) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(code, message, sizeof message);
    throw ValueError(where + ": the answer pattern '" + pattern + "' does not compile at offset " + std::to_string(at) + ": " +
                     reinterpret_cast<const char*>(message));
  }
  return std::shared_ptr<pcre2_code>(re, pcre2_code_free);
}

bool full_match(const pcre2_code* re, const std::string& text) {
  std::unique_ptr<pcre2_match_data, void (*)(pcre2_match_data*)> md(pcre2_match_data_create_from_pattern(re, nullptr), pcre2_match_data_free);
  return pcre2_match(re, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0, 0, md.get(), nullptr) >= 0;
}

}  // namespace

std::vector<std::string> verifiable_reward_names() { return {"exact-match", "regex"}; }

float verifiable_reward(const std::string& name, const std::string& completion, const std::string& answer, const std::string& marker) {
  if (name == "exact-match") return eval::extract_answer(completion, marker) == answer ? 1.0f : 0.0f;
  if (name == "regex") return full_match(full_match_pattern(answer, "--reward regex").get(), eval::extract_answer(completion, marker)) ? 1.0f : 0.0f;
  throw ValueError("unknown reward '" + name + "' (expected exact-match or regex)");
}

std::string reward_answer(const std::string& answer) {
  const size_t a = answer.find_first_not_of(" \t\r\n");
  return a == std::string::npos ? std::string() : answer.substr(a, answer.find_last_not_of(" \t\r\n") + 1 - a);
}

void check_reward_answer(const std::string& name, const std::string& answer, const std::string& where) {
  if (name == "regex") full_match_pattern(answer, where);
}

}  // namespace cornerstone::adapt

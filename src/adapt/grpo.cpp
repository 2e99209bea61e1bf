#include "cornerstone/adapt/grpo.h"

#include <cmath>

#include "cornerstone/core/error.h"
#include "cornerstone/eval/harness.h"

namespace cornerstone::adapt {

nlohmann::json GrpoOptions::to_json() const {
  return {{"group", group}, {"kl", kl}, {"max_new_tokens", max_new_tokens}, {"temperature", temperature}, {"reward", reward}, {"marker", marker}};
}

GrpoOptions GrpoOptions::from_json(const nlohmann::json& j, const std::string& where) {
  GrpoOptions o;
  try {
    o.group = j.at("group").get<int64_t>();
    o.kl = j.at("kl").get<float>();
    o.max_new_tokens = j.at("max_new_tokens").get<int64_t>();
    o.temperature = j.at("temperature").get<float>();
    o.reward = j.at("reward").get<std::string>();
    o.marker = j.at("marker").get<std::string>();
    o.validate();
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(where + ": " + e.what());
  } catch (const ValueError& e) {
    throw FormatError(where + ": " + e.what());
  }
  return o;
}

void GrpoOptions::validate() const {
  if (group < 2) throw ValueError("--group must be at least 2 (advantages compare completions of one prompt), got " + std::to_string(group));
  if (!(kl >= 0)) throw ValueError("--kl must be >= 0");
  if (max_new_tokens < 1) throw ValueError("--max-new-tokens must be positive");
  if (!(temperature > 0)) throw ValueError("--temperature must be positive (grpo samples)");
  verifiable_reward(reward, "", "", marker);  // a known name
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

std::vector<std::string> verifiable_reward_names() { return {"exact-match"}; }

float verifiable_reward(const std::string& name, const std::string& completion, const std::string& answer, const std::string& marker) {
  if (name == "exact-match") return eval::extract_answer(completion, marker) == answer ? 1.0f : 0.0f;
  throw ValueError("unknown reward '" + name + "' (expected exact-match)");
}

}  // namespace cornerstone::adapt

// PPO's pieces for language models (Schulman et al. 2017; Ziegler et al. 2019; as TRL's
// PPOTrainer computes them), for a completion of T tokens sampled from the policy:
//
//   token rewards  r_t = -kl (log pi(y_t) - log pi_ref(y_t)), plus the completion's score at its
//                  last token (a reward model's, or a verifiable reward)
//   GAE            delta_t = r_t + gamma V_{t+1} - V_t  (V_T = 0: the completion ends)
//                  A_t = delta_t + gamma lambda A_{t+1},  returns R_t = A_t + V_t
//                  advantages are then whitened over the batch's tokens (mean 0, unit variance)
//   policy loss    ratio_t = exp(log pi(y_t) - log pi_old(y_t))
//                  mean_t max(-A_t ratio_t, -A_t clip(ratio_t, 1 - eps, 1 + eps))
//   value loss     V'_t = V_old,t + clip(V_t - V_old,t, -eps_v, eps_v)
//                  0.5 mean_t max((V_t - R_t)^2, (V'_t - R_t)^2)
//   loss           policy loss + vf_coef x value loss
//
// `finetune --task ppo` (src/adapt/tasks/ppo.cpp) trains the policy and a value head
// (v_head.summary, TRL's AutoModelForCausalLMWithValueHead) on one trunk. A rollout (completions
// of a batch's prompts sampled from the policy, scored, with the old log-probabilities, values,
// reference log-probabilities, advantages and returns) is reused for `epochs` optimizer steps, as
// TRL's ppo_epochs with one mini-batch per batch. The sampling and the reward are GRPO's
// (adapt/grpo.h: the group is the completions per prompt, the KL coefficient the per-token
// penalty's). The losses and advantage estimation here are tested against PyTorch
// (tests/adapt/test_ppo.cpp).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cornerstone/core/tensor.h"

namespace cornerstone::adapt {

struct PpoOptions {
  int64_t epochs = 4;          // optimizer steps per rollout (TRL's ppo_epochs)
  float clip = 0.2f;           // policy ratio clip range (cliprange)
  float clip_value = 0.2f;     // value clip range (cliprange_value)
  float vf_coef = 0.1f;        // the value loss's weight
  float gamma = 1.0f;          // discount
  float lambda = 0.95f;        // GAE's lambda (lam)

  nlohmann::json to_json() const;
  static PpoOptions from_json(const nlohmann::json& j, const std::string& where);
  void validate() const;  // ValueError naming the option
};

// r_t per completion token: the KL penalty at every token, `score` added at the last.
std::vector<float> ppo_token_rewards(const std::vector<float>& logp, const std::vector<float>& ref_logp, float score, float kl);

struct Advantages {
  std::vector<float> advantages, returns;  // per token
};
// Generalised advantage estimation over one completion's tokens (above; before whitening).
Advantages generalized_advantages(const std::vector<float>& rewards, const std::vector<float>& values, float gamma, float lambda);

// (x - mean) / sqrt(var + 1e-8), the variance unbiased (TRL's masked_whiten over all tokens).
std::vector<float> whiten(const std::vector<float>& x);

// The clipped policy loss of N tokens: logp (N) with gradients, old_logp and advantages (N)
// constants -> (1,).
Tensor ppo_policy_loss(const Tensor& logp, const Tensor& old_logp, const Tensor& advantages, float clip);
// The clipped value loss of N tokens: values (N) with gradients, old_values and returns (N)
// constants -> (1,).
Tensor ppo_value_loss(const Tensor& values, const Tensor& old_values, const Tensor& returns, float clip_value);

}  // namespace cornerstone::adapt

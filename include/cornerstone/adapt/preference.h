// Preference learning: a reward model (`finetune --task reward`) and direct preference
// optimisation (`finetune --task dpo`), both from pairs in TRL's format, one JSON object a line:
//
//   {"prompt": "What is 47 + 85?", "chosen": "Answer: 132", "rejected": "Answer: 142"}
//
// Reward model (Bradley-Terry; Ouyang et al. 2022): a scalar head r(x, y) on a decoder (its last
// real token) or an encoder ([CLS] through the pooler), trained so that the chosen response
// scores higher:
//
//   loss = mean_i -log sigmoid(r(x_i, chosen_i) - r(x_i, rejected_i))
//   pairwise accuracy = share of pairs with r(chosen) > r(rejected)
//
// DPO (Rafailov et al. 2023): the policy pi (the model being tuned) against the reference pi_ref
// (the starting model, frozen), by the log-probabilities of whole responses given the prompt,
// rendered as sft renders them (adapt/instruction.h):
//
//   h_i = [log pi(chosen_i) - log pi_ref(chosen_i)] - [log pi(rejected_i) - log pi_ref(rejected_i)]
//   sigmoid loss  mean_i -log sigmoid(beta h_i)                       (the paper's)
//   ipo loss      mean_i (h_i - 1 / (2 beta))^2                        (Azar et al. 2023, as TRL)
//   rewards/chosen = beta [log pi(chosen) - log pi_ref(chosen)], rewards/rejected likewise,
//   accuracy = share with rewards/chosen > rewards/rejected, margin = mean(chosen - rejected)
//
// The reference's log-probabilities are computed once, before the first step, from the starting
// model: the base opened afresh for the purpose (then released; a resumed run's own weights are a
// checkpoint's), or with LoRA the base with its adapters switched off (no second copy).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cornerstone/core/tensor.h"

namespace cornerstone::adapt {

struct PreferencePair {
  std::string prompt, chosen, rejected;
  int64_t line = 0;
};

// FormatError naming the file, line and field for a missing or non-string field, or a pair whose
// chosen and rejected responses are the same; ValueError for a file without pairs.
std::vector<PreferencePair> read_preference_pairs(const std::string& jsonl);

// chosen (B), rejected (B) scores -> mean -log sigmoid(chosen - rejected), (1,).
Tensor bradley_terry_loss(const Tensor& chosen, const Tensor& rejected);

enum class DpoLoss { Sigmoid, IPO };
std::string dpo_loss_name(DpoLoss l);
DpoLoss dpo_loss_from_name(const std::string& s);  // "sigmoid" | "ipo"; ValueError otherwise

// Sequence log-probabilities (B) of the policy (differentiable) and of the reference (constants)
// -> the mean loss (1,).
Tensor dpo_loss(const Tensor& policy_chosen, const Tensor& policy_rejected, const Tensor& ref_chosen, const Tensor& ref_rejected,
                float beta, DpoLoss loss);

// Running sums of pairs' scores: a reward model's r(chosen), r(rejected); DPO's implicit rewards.
struct PreferenceMetrics {
  int64_t pairs = 0;
  double loss = 0;             // mean loss per pair
  double accuracy = 0;         // share with chosen > rejected
  double chosen = 0, rejected = 0;  // mean scores (DPO: rewards/chosen, rewards/rejected)
  double margin = 0;           // mean(chosen - rejected)

  void add(const std::vector<float>& chosen, const std::vector<float>& rejected, double mean_loss);
  // {"pairs", "loss", "accuracy", "chosen", "rejected", "margin"}; `prefix` before each key but
  // "pairs" ("rewards/" gives TRL's names).
  nlohmann::json to_json(const std::string& prefix = "") const;
  std::string table() const;

 private:
  double loss_sum_ = 0, chosen_sum_ = 0, rejected_sum_ = 0;
  int64_t right_ = 0;
};

}  // namespace cornerstone::adapt

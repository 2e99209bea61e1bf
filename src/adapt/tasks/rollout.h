// What the on-policy tasks (grpo, ppo) share: {"prompt", "answer"} problems in the model's chat
// template, completions sampled from the policy through the batched KV-cache runner, their
// rewards (verifiable, or a reward model's scores), the training rows (prompt + completion,
// targets on the completion), the reference model, and the greedy exact-match evaluation.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cornerstone/adapt/task_type.h"
#include "cornerstone/infer/generator.h"
#include "cornerstone/models/gpt/gpt.h"

namespace cornerstone::adapt::rollout {

// The problems of a JSONL file, each prompt rendered as a user turn of the model's chat template.
std::vector<Encoded> read_problems(const TaskModel& m, const std::string& path);

// G completions per example of `examples`, sampled at the task's temperature with `seed`, and the
// rows the policy trains on.
struct Samples {
  std::vector<infer::Generation> generations;  // N = examples x G, example-major
  std::vector<float> rewards;                  // N: the verifiable reward, or the reward model's score
  Tensor ids, targets;                         // (N, T) i32: prompt + completion (+ its end token), right-padded;
                                               // targets on the completion tokens only (-1 elsewhere)
  std::vector<int64_t> first, counts;          // N: the first target position of each row, and how many there are
  int64_t completion_tokens = 0;
  double seconds = 0;                          // sampling time
};

// The reference model and the reward model of a task's runs, loaded once per TaskModel.
class Resources {
 public:
  // Loads what m's spec names: the reward model (--reward-model), and for full fine-tuning a frozen
  // copy of the starting model (under LoRA the reference is the base with its adapters off).
  void prepare(const TaskModel& m, const char* task);
  // The reference decoder, or null under LoRA (then switch the adapters off: AdaptersOff).
  const models::GPT* reference(const TaskModel& m, const char* task) const;
  std::shared_ptr<TaskModel> reward_model(const TaskModel& m, const char* task) const;

 private:
  mutable std::mutex mutex_;
  std::map<const TaskModel*, std::shared_ptr<models::PretrainedModel>> references_;
  std::map<const TaskModel*, std::shared_ptr<TaskModel>> reward_models_;
};

// Switches a LoRA policy's adapters off for its lifetime (the reference is then the base).
class AdaptersOff {
 public:
  explicit AdaptersOff(const TaskModel& m);
  ~AdaptersOff();
  AdaptersOff(const AdaptersOff&) = delete;
  AdaptersOff& operator=(const AdaptersOff&) = delete;

 private:
  const TaskModel& m_;
  bool lora_;
};

Samples sample(const TaskModel& m, const BatchTensors& b, int64_t per_prompt, uint64_t seed, const Resources& resources, const char* task);

// Greedy completions of the set's prompts scored by the task's verifiable reward: exact match.
TaskReport evaluate_exact_match(const TaskModel& m, const EvalSet& set, int64_t batch);

}  // namespace cornerstone::adapt::rollout

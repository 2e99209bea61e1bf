// A pretrained model (decoder or encoder) adapted to a task, and its folder on disk.
//
//   task.json      {"task": "classify" | "tag" | "contrastive" | "sft" | "reward" | "dpo" | "grpo" | "ppo", "mode": "full" | "frozen" |
//                   "lora", "labels": [...], "max_length": N, "base": "<base model folder>",
//                   "lora": {...}, "pooling": "mean" | "cls" (contrastive, classify), "temperature": t, "from_scratch": bool,
//                   "chat_template": "chatml" | "plain", "packing": bool}
//   tokenizer.json the base model's tokenizer
//   full / frozen: config.json + model.safetensors (base in Hugging Face names, plus the head:
//                  score.weight, or classifier.weight + classifier.bias)
//   lora:          adapter_config.json + adapter_model.safetensors (PEFT names; the head is saved
//                  as base_model.model.score.weight / classifier.*, like PEFT's modules_to_save,
//                  and so is an encoder's pooler when it trains); the base is read from "base"
//
// Tasks: classify (one label per text or text pair), tag (one label per word), contrastive
// (sentence embeddings trained with in-batch negatives: no head, the pooled states are the
// output; adapt/embedding.h), sft (instruction tuning of a decoder: next-token loss on the
// responses of prompt / response pairs, adapt/instruction.h; full or LoRA, no head; a full sft
// folder is a plain model folder whose config.json names its "chat_template", so `generate --chat`
// prompts it the way it was tuned), reward (a scalar head trained on preference pairs,
// adapt/preference.h; saved like a one-label classifier), dpo (a decoder tuned on preference
// pairs against its starting point; saved like sft), grpo (saved like sft), ppo (the policy saved
// like sft, plus its value head v_head.summary.* beside the weights or, under LoRA, the adapters). An encoder's classification head reads the pooler, which MLM
// pretraining leaves untrained: it trains with the head in every mode (frozen and LoRA included).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cornerstone/adapt/grpo.h"
#include "cornerstone/adapt/heads.h"
#include "cornerstone/adapt/lora.h"
#include "cornerstone/adapt/model_inputs.h"
#include "cornerstone/adapt/ppo.h"
#include "cornerstone/models/pretrained.h"
#include "cornerstone/tokenize/tokenizer.h"

namespace cornerstone::adapt {

enum class Task { Classify, Tag, Contrastive, SFT, Reward, DPO, GRPO, PPO };
enum class AdaptMode { Full, Frozen, LoRA };

// What the code around a task needs to know of it (each task's registration, adapt/task_type.h):
// its name, what it trains, how it is saved.
struct TaskInfo {
  Task task;
  const char* name;        // "reward"
  const char* summary;     // for --help
  bool language_model;     // tunes a causal LM with no head (sft, dpo): generates, saves a plain model folder
  bool paired;             // examples are pairs of inputs (contrastive: query, document; reward: chosen, rejected)
  int64_t head_outputs;    // a sequence head with this many outputs (-1: one per label; 0: no sequence head)
  const char* peft_type;   // adapter_config.json's task_type under LoRA
};
const TaskInfo& task_info(Task t);
const std::vector<TaskInfo>& task_infos();
std::string task_name(Task t);
Task task_from_name(const std::string& s);  // throws ValueError listing the tasks
std::string pooling_name(Pooling p);
Pooling pooling_from_name(const std::string& s);  // throws ValueError listing the choices
// Without --pooling / a task.json key: a classifier reads the model's sequence features (BERT's
// pooler on [CLS], a decoder's last token; every classifier saved before mean pooling existed),
// sentence embeddings the mean of the tokens.
inline Pooling default_pooling(Task t) { return t == Task::Classify || t == Task::Reward ? Pooling::Cls : Pooling::Mean; }

struct TaskSpec {
  Task task = Task::Classify;
  AdaptMode mode = AdaptMode::Full;
  std::vector<std::string> labels;  // classes or tags
  int64_t max_length = 0;           // tokens per example (0: the base context, at most 256)
  std::string base;                 // base model folder (absolute)
  LoRAConfig lora;                  // when mode == LoRA
  Pooling pooling = Pooling::Mean;  // contrastive (default mean) and classify (default cls: the pooler)
  float temperature = 0.05f;        // contrastive: InfoNCE logits are cosine similarities / temperature
  bool from_scratch = false;        // the base's architecture with fresh weights: the no-pretraining baseline
  std::string chat_template;        // sft: the template's name (empty: the base model's, tokenize::chat_template_for)
  bool packing = false;             // sft: pack short examples into rows of max_length tokens (training only)
  float beta = 0.1f;                // dpo: the strength of the pull toward the reference
  std::string dpo_loss = "sigmoid"; // dpo: sigmoid | ipo (adapt/preference.h)
  float rpo_alpha = 0;              // dpo: weight of the chosen responses' NLL added to the loss (RPO; 0: off)
  GrpoOptions grpo;                 // grpo (adapt/grpo.h); ppo: its sampling and reward
  PpoOptions ppo;                   // ppo (adapt/ppo.h)

  nlohmann::json to_json() const;
  static TaskSpec from_json(const nlohmann::json& j, const std::string& where);
};

class TaskModel {
 public:
  // Loads the base model and its tokenizer, adds the head, and freezes / attaches LoRA per spec.
  static TaskModel create(const TaskSpec& spec, uint64_t seed);
  // Loads a folder written by save().
  static TaskModel load(const std::string& dir);
  // Writes the folder (to a temporary name, renamed when complete); `extra`, when given, adds
  // files to the temporary folder before the rename (a task's training state in a checkpoint).
  void save(const std::string& dir, const std::function<void(const std::string& tmp)>& extra = nullptr) const;

  const TaskSpec& spec() const { return spec_; }
  // Folds LoRA adapters into the base weights: the model becomes a full fine-tune (mode "full").
  void merge_adapters();
  const tokenize::Tokenizer& tokenizer() const { return format_->tokenizer(); }
  const InputFormat& inputs() const { return *format_; }
  models::PretrainedModel& base() const { return *base_; }
  const std::shared_ptr<models::PretrainedModel>& base_ptr() const { return base_; }
  // The module holding every parameter (the head's module, or the base for contrastive and SFT).
  nn::Module& module() const;
  const SequenceClassifier* classifier() const { return classifier_.get(); }
  const TokenClassifier* tagger() const { return tagger_.get(); }
  const ValueHead* value_head() const { return value_head_.get(); }  // ppo

 private:
  // Heads, freezing and (when `attach_lora`) fresh LoRA adapters per spec_, on a loaded base.
  void build(uint64_t seed, bool attach_lora);
  // Parameters saved beside the base: the head's, and an encoder classifier's pooler.
  std::vector<std::pair<std::string, Tensor>> head_tensors() const;
  // A classifier that reads the base's feature head (BERT's pooler), trained and saved with the head.
  bool reads_feature_head() const { return classifier_ && spec_.pooling != Pooling::Mean; }

  TaskSpec spec_;
  std::optional<InputFormat> format_;
  std::shared_ptr<models::PretrainedModel> base_;
  std::shared_ptr<SequenceClassifier> classifier_;
  std::shared_ptr<TokenClassifier> tagger_;
  std::shared_ptr<ValueHead> value_head_;
};

}  // namespace cornerstone::adapt

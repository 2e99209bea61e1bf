// A pretrained decoder adapted to a task, and its folder on disk.
//
//   task.json      {"task": "classify" | "tag" | "sft", "mode": "full" | "frozen" | "lora",
//                   "labels": [...], "max_length": N, "base": "<base model folder>", "lora": {...}}
//   tokenizer.json the base model's tokenizer
//   full / frozen: config.json + model.safetensors (base in Hugging Face names, plus the head:
//                  score.weight, or classifier.weight + classifier.bias)
//   lora:          adapter_config.json + adapter_model.safetensors (PEFT names; the head is saved
//                  as base_model.model.score.weight / classifier.*, like PEFT's modules_to_save);
//                  the base is read from "base"
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cornerstone/adapt/heads.h"
#include "cornerstone/adapt/lora.h"
#include "cornerstone/models/gpt.h"
#include "cornerstone/tokenize/tokenizer.h"

namespace cornerstone::adapt {

enum class Task { Classify, Tag, SFT };
enum class AdaptMode { Full, Frozen, LoRA };

std::string task_name(Task t);
Task task_from_name(const std::string& s);  // throws ValueError listing the tasks

struct TaskSpec {
  Task task = Task::Classify;
  AdaptMode mode = AdaptMode::Full;
  std::vector<std::string> labels;  // classes or tags
  int64_t max_length = 0;           // tokens per example (0: the base context, at most 256)
  std::string base;                 // base model folder (absolute)
  LoRAConfig lora;                  // when mode == LoRA

  nlohmann::json to_json() const;
  static TaskSpec from_json(const nlohmann::json& j, const std::string& where);
};

class TaskModel {
 public:
  // Loads the base model and its tokenizer, adds the head, and freezes / attaches LoRA per spec.
  static TaskModel create(const TaskSpec& spec, uint64_t seed);
  // Loads a folder written by save().
  static TaskModel load(const std::string& dir);
  // Writes the folder (to a temporary name, renamed when complete).
  void save(const std::string& dir) const;

  const TaskSpec& spec() const { return spec_; }
  // Folds LoRA adapters into the base weights: the model becomes a full fine-tune (mode "full").
  void merge_adapters();
  const tokenize::Tokenizer& tokenizer() const { return tokenizer_; }
  models::GPT& base() const { return *base_; }
  // The module holding every parameter (the head's module, or the base for SFT).
  nn::Module& module() const;
  const SequenceClassifier* classifier() const { return classifier_.get(); }
  const TokenClassifier* tagger() const { return tagger_.get(); }

  // Token ids of a text for classification: truncated to max_length - 1, then end-of-text.
  std::vector<int32_t> encode_text(const std::string& text) const;
  // Token ids of a tagged sentence and, per token, the index of the word it starts (-1 for a
  // word's later pieces), truncated to max_length.
  std::pair<std::vector<int32_t>, std::vector<int32_t>> encode_words(const std::vector<std::string>& words) const;

 private:
  TaskSpec spec_;
  tokenize::Tokenizer tokenizer_{nullptr};
  std::shared_ptr<models::GPT> base_;
  std::shared_ptr<SequenceClassifier> classifier_;
  std::shared_ptr<TokenClassifier> tagger_;
};

}  // namespace cornerstone::adapt

// The task harness (in the spirit of EleutherAI's lm-evaluation-harness): few-shot benchmarks of a
// causal LM, scored by log-likelihood or by generation.
//
// A task is a JSONL file, one document per line, every line of one kind:
//
//   multiple choice  {"context": "What is 47 + 85?", "choices": ["132", "122", "142"], "gold": 0}
//                    each choice is scored as a continuation of the prompt: the sum of its tokens'
//                    log-probabilities. acc: the best-scored choice is the gold one; acc_norm: the
//                    same with each score divided by the choice's length in bytes (longer choices
//                    are not penalised for having more tokens).
//   generation       {"prompt": "What is 47 + 85?", "answer": "132", "solution": "7 + 5 = 12 ...\nAnswer: 132"}
//                    the model continues the prompt greedily; the answer is the text after the last
//                    answer marker ("Answer:", data/arithmetic.h) when there is one, else the first
//                    line, trimmed; exact_match: it equals "answer" (trimmed). "solution" (optional)
//                    is what a few-shot example shows after its prompt (default: the answer), so
//                    worked solutions make chain-of-thought prompts.
//
// Few-shot prompts: k other documents of the task, drawn per document from Rng(seed + index), go
// before it. A base model sees plain text, examples separated by a blank line
//
//   What is 3 + 4? Answer: 7\n\nWhat is 47 + 85?                      (+ " choice" when scored)
//
// an instruction-tuned model (an sft fine-tune, or a folder naming its chat template) a
// conversation in its template: each example a user turn and an assistant turn, then the
// document's user turn and the opened assistant turn. Generation stops at a blank line (base) or
// the template's end of turn.
//
// Built-in tasks (generated from data/arithmetic.h with fixed seeds, no files needed):
//   arithmetic         200 problems, add / sub / mul, 1-3 digits, generation, shots show the answer
//   arithmetic-steps   the same problems, shots show worked solutions (chain-of-thought prompting)
//   arithmetic-choice  200 problems as 4-way multiple choice (the answer and three near misses)
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cornerstone/infer/generator.h"
#include "cornerstone/models/pretrained.h"
#include "cornerstone/tokenize/chat_template.h"
#include "cornerstone/tokenize/tokenizer.h"

namespace cornerstone::eval {

enum class HarnessKind { MultipleChoice, Generation };

struct HarnessDoc {
  std::string context;               // the prompt
  std::vector<std::string> choices;  // multiple choice
  int64_t gold = -1;                 // multiple choice: the index of the right choice
  std::string answer;                // generation
  std::string solution;              // generation: what a few-shot example shows (default: answer)
  int64_t line = 0;                  // in its file (0: built in)
};

struct HarnessTask {
  std::string name;
  HarnessKind kind = HarnessKind::Generation;
  std::vector<HarnessDoc> docs;
};

// A task file (above). FormatError naming the file, line and field for a bad line, a line of the
// other kind, a gold index outside the choices; ValueError for an empty file.
HarnessTask read_harness_task(const std::string& path);
std::vector<std::string> builtin_harness_tasks();
// A built-in task by name, or a file: a path that exists is read, a known name is built, anything
// else is a ValueError listing the built-in names.
HarnessTask harness_task(const std::string& file_or_name);

// The text after the last `marker` (or the first line when there is none), trimmed of blanks and
// a trailing period.
std::string extract_answer(const std::string& text, const std::string& marker);

struct LogLikelihood {
  double logprob = 0;      // sum over the continuation's tokens of log P(token | everything before it)
  int64_t tokens = 0;      // the continuation's tokens
  bool greedy = false;     // every continuation token is the model's most likely one
};

// What the harness needs of a model (lm-evaluation-harness's LM interface).
class HarnessModel {
 public:
  virtual ~HarnessModel() = default;
  // (context, continuation) pairs -> log P(continuation | context). The context and the
  // continuation are tokenized separately and joined (as a prompt and its reply are); a context
  // too long for the model keeps its last tokens.
  virtual std::vector<LogLikelihood> loglikelihood(const std::vector<std::pair<std::string, std::string>>& requests) = 0;
  // Greedy continuations of each prompt, ending before the first stop string (or after max_tokens).
  virtual std::vector<std::string> generate(const std::vector<std::string>& prompts, const std::vector<std::string>& stop,
                                            int64_t max_tokens) = 0;
  // The template an instruction-tuned model answers in; none for a base model (plain prompts).
  virtual std::optional<tokenize::ChatTemplate> chat_template() const { return std::nullopt; }
};

// A causal LM in f32: log-likelihoods from its training forward pass (no gradients), generation
// through the batched KV-cache runner (infer/generator.h).
class CausalLMHarnessModel : public HarnessModel {
 public:
  // `model` must be a models::CausalLM; `chat`: the template of an instruction-tuned model.
  CausalLMHarnessModel(std::shared_ptr<models::PretrainedModel> model, tokenize::Tokenizer tokenizer,
                       std::optional<tokenize::ChatTemplate> chat = std::nullopt, int64_t batch = 8);
  std::vector<LogLikelihood> loglikelihood(const std::vector<std::pair<std::string, std::string>>& requests) override;
  std::vector<std::string> generate(const std::vector<std::string>& prompts, const std::vector<std::string>& stop,
                                    int64_t max_tokens) override;
  std::optional<tokenize::ChatTemplate> chat_template() const override { return chat_; }

 private:
  std::shared_ptr<models::PretrainedModel> model_;
  tokenize::Tokenizer tokenizer_;
  std::optional<tokenize::ChatTemplate> chat_;
  int64_t batch_;
  std::unique_ptr<infer::Generator> generator_;  // built on first use
};

struct HarnessOptions {
  int64_t shots = 0;
  uint64_t seed = 1234;
  int64_t limit = 0;              // score the first N documents only (0: all)
  int64_t max_new_tokens = 64;    // generation
  std::string marker = "Answer:"; // generation: the answer follows its last occurrence
};

struct HarnessResult {
  std::string task;
  HarnessKind kind = HarnessKind::Generation;
  int64_t documents = 0;
  double acc = 0, acc_norm = 0;  // multiple choice
  double exact_match = 0;        // generation
  nlohmann::json to_json() const;  // {"task", "kind", "documents", "acc", "acc_norm"} or {..., "exact_match"}
};

// The prompt of document `index` with its few-shot examples (above); for multiple choice the
// choices are scored as its continuations. ValueError when the task has too few documents for
// the shots.
std::string harness_prompt(const HarnessTask& task, size_t index, const HarnessOptions& options,
                           const std::optional<tokenize::ChatTemplate>& chat);
// What follows a multiple-choice prompt before the choice's text: " " for plain prompts, the rest
// of the assistant's role marker in a chat template.
std::string continuation_prefix(const std::optional<tokenize::ChatTemplate>& chat);

HarnessResult run_harness_task(HarnessModel& model, const HarnessTask& task, const HarnessOptions& options);

// {"results": {task: result...}, "config": {"shots", "seed", "limit", "max_new_tokens"}} and a table.
nlohmann::json harness_json(const std::vector<HarnessResult>& results, const HarnessOptions& options);
std::string harness_table(const std::vector<HarnessResult>& results);

}  // namespace cornerstone::eval

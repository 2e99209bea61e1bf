// Labelled examples as a task model reads them: encoded once (adapt/model_inputs.h), batched by
// index lists, scored by the task's training loss, and evaluated by the task's metrics. Shared by
// the fine-tuning objective (adapt/task_objective.h) and the evaluation entry points
// (adapt/finetune.h).
//
//   classify     input (a text or pair) + label          loss: cross-entropy on the head's logits
//   tag          input (words) + a target per token       loss: cross-entropy per word's first token
//   contrastive  input (the query) + positive (its text)  loss: InfoNCE with in-batch negatives
//                (+ an optional hard negative)                 and the batch's hard negatives
//   sft          ids + next-token targets (-1: prompt)    loss: next-token cross-entropy on responses
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cornerstone/adapt/instruction.h"
#include "cornerstone/adapt/preference.h"
#include "cornerstone/eval/metrics.h"
#include "cornerstone/adapt/model_inputs.h"
#include "cornerstone/adapt/task_model.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/core/tensor.h"
#include "cornerstone/models/gpt/gpt.h"

namespace cornerstone::adapt {

// One encoded example: the model input and its target(s).
struct Encoded {
  ModelInput input;                    // the text (pair), sentence, or the contrastive query
  ModelInput positive;                 // contrastive: the query's document
  ModelInput negative;                 // contrastive: a hard negative (when has_negative)
  bool has_negative = false;
  std::vector<int32_t> token_targets;  // tagging: per token; sft: the next token (-1: no loss there)
  int32_t label = -1;                  // classification
  // reward: input is prompt + chosen, positive prompt + rejected. dpo: the same rendered as sft
  // renders them, token_targets / positive_targets on the responses, and the reference model's
  // log-probabilities of both responses (computed once from the starting model, add_reference_logprobs).
  std::vector<int32_t> positive_targets;
  float ref_chosen = 0, ref_rejected = 0;
  // grpo: the rendered prompt (input holds its ids), the prompt as written (what a reward model
  // reads) and the answer a completion must reach.
  std::string prompt_text, prompt, answer;
};

// sft: rows of rendered conversations, packed when `pack`; `stats` (optional) receives the counts.
std::vector<Encoded> encode_sft(const TaskModel& m, const std::string& path, bool pack, SftData* stats);

struct BatchTensors {
  PaddedBatch input;     // the examples (contrastive: the queries; reward, dpo: prompt + chosen)
  PaddedBatch positive;  // contrastive: their documents, then the hard negatives of those that have one; reward, dpo: prompt + rejected
  Tensor targets;        // (B) labels, or (B T) token targets
  Tensor positive_targets;          // dpo: (B T') the rejected responses' targets
  Tensor ref_chosen, ref_rejected;  // dpo: (B) the reference's log-probabilities
  Tensor index;                     // (B) i32: the examples' positions in their set
  std::vector<const Encoded*> examples;  // the examples themselves (grpo samples from their prompts)
  // Where the batch is in the run (tasks that train several steps on one batch, ppo): the batch's
  // number (step / updates per batch), which of its updates this is, and the micro-batch.
  int64_t batch_number = 0, update = 0, micro = 0;
};

// Examples data[order[begin]] ... data[order[end - 1]] as one padded batch.
BatchTensors make_batch(const std::vector<Encoded>& data, const std::vector<size_t>& order, size_t begin, size_t end, Task task,
                        int64_t max_length);

// Pieces the tasks (adapt/task_type.h, src/adapt/tasks/) share.
// The index of label `l` in the sorted label set; ValueError naming `where` and the known labels.
int32_t label_index(const std::vector<std::string>& labels, const std::string& l, const std::string& where);
// Logits (rows, labels) of a batch: one row per sequence (classify, reward) or per token (tag).
Tensor batch_logits(const TaskModel& m, const BatchTensors& b, Rng* rng);
// The model's decoder (sft, dpo); UnsupportedError for an encoder.
const models::GPT& decoder(const TaskModel& m);
// Next-token loss of an sft batch: the mean over its response tokens.
Tensor sft_loss(const TaskModel& m, const BatchTensors& b, Rng* rng);
// A reward model reads the prompt and a response: as a text pair for an encoder, one text for a decoder.
ModelInput response_input(const TaskModel& m, const std::string& prompt, const std::string& response);
// dpo: the pairs' policy log-probabilities (chosen, rejected), each (1,).
std::pair<std::vector<Tensor>, std::vector<Tensor>> pair_logprobs(const TaskModel& m, const BatchTensors& b, Rng* rng);

// The log-probability of each row's targets (the sum over positions whose target is >= 0) under a
// decoder: ids (B, T), targets (B, T) -> (B) tensors of shape (1,), differentiable.
std::vector<Tensor> sequence_logprobs(const TaskModel& m, const Tensor& ids, const Tensor& targets, Rng* rng);
std::vector<Tensor> sequence_logprobs(const models::GPT& model, const Tensor& ids, const Tensor& targets, Rng* rng);
// dpo: fills ref_chosen / ref_rejected under the starting model, whatever m's weights are now (a
// resumed run's): the base opened afresh, or under LoRA the base with its adapters switched off.
void add_reference_logprobs(const TaskModel& m, std::vector<Encoded>& data, int64_t batch_size);
// reward: r(chosen), r(rejected) per pair; dpo: the implicit rewards beta (log pi - log pi_ref).
PreferenceMetrics evaluate_preferences(const TaskModel& m, const std::vector<Encoded>& data, int64_t batch_size);
// The reports of the metrics above (adapt/task_type.h): response loss (sft, a dpo model on
// instruction pairs) and preference metrics (reward; dpo with "rewards/" before its keys).
struct TaskReport;
TaskReport response_loss_report(const TaskModel& m, const std::vector<Encoded>& data, int64_t batch_size);
TaskReport preference_report(const PreferenceMetrics& r, const std::string& prefix);

// Metrics over encoded examples, in eval mode without gradients.
eval::TaskMetrics evaluate_encoded(const TaskModel& m, const std::vector<Encoded>& data, int64_t batch_size);
eval::LanguageMetrics evaluate_language(const TaskModel& m, const std::vector<Encoded>& data, int64_t batch_size);
eval::RetrievalMetrics evaluate_pairs(const TaskModel& m, const std::vector<std::string>& queries, const std::vector<std::string>& documents,
                                int64_t batch_size);

}  // namespace cornerstone::adapt

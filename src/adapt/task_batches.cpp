#include "cornerstone/adapt/task_batches.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "cornerstone/adapt/embedding.h"
#include "cornerstone/adapt/lora.h"
#include "cornerstone/adapt/task_data.h"
#include "cornerstone/adapt/task_type.h"
#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/core/error.h"
#include "cornerstone/interop/open_model.h"
#include "cornerstone/tokenize/chat_template.h"
#include "cornerstone/models/gpt/gpt.h"
#include "cornerstone/ops/linear.h"
#include "cornerstone/ops/elementwise.h"
#include "cornerstone/ops/loss.h"

namespace cornerstone::adapt {

namespace {

// Batches are padded to a multiple of this many tokens (see pad_batch).
constexpr int64_t kLengthMultiple = 32;

// Per-row targets padded with -1 to the batch's T columns: (B T).
Tensor target_matrix(const std::vector<const std::vector<int32_t>*>& rows, int64_t T) {
  std::vector<int32_t> t(rows.size() * static_cast<size_t>(T), -1);
  for (size_t r = 0; r < rows.size(); ++r)
    std::copy(rows[r]->begin(), rows[r]->begin() + std::min<int64_t>(T, static_cast<int64_t>(rows[r]->size())), t.begin() + static_cast<int64_t>(r) * T);
  return Tensor::from_data({static_cast<int64_t>(t.size())}, t);
}

}  // namespace

int32_t label_index(const std::vector<std::string>& labels, const std::string& l, const std::string& where) {
  const auto it = std::lower_bound(labels.begin(), labels.end(), l);
  if (it == labels.end() || *it != l) {
    std::string known;
    for (size_t i = 0; i < labels.size() && i < 20; ++i) known += (i ? ", " : "") + labels[i];
    throw ValueError(where + ": unknown label '" + l + "' (the model knows: " + known + (labels.size() > 20 ? ", ..." : "") + ")");
  }
  return static_cast<int32_t>(it - labels.begin());
}


// Logits (rows, labels) of a batch: one row per sequence (classify) or per token (tag).
Tensor batch_logits(const TaskModel& m, const BatchTensors& b, Rng* rng) {
  if (m.classifier()) return m.classifier()->logits(b.input.ids, b.input.lengths, b.input.segments, rng);
  const Tensor l = m.tagger()->logits(b.input.ids, b.input.lengths, rng);
  return l.view({l.size(0) * l.size(1), l.size(2)});
}

const models::GPT& decoder(const TaskModel& m) {
  const auto* gpt = dynamic_cast<const models::GPT*>(&m.base());
  if (!gpt) throw UnsupportedError("sft needs a decoder base model");
  return *gpt;
}

// Next-token loss of an sft batch: the mean over its response tokens.
Tensor sft_loss(const TaskModel& m, const BatchTensors& b, Rng* rng) {
  return decoder(m).loss(b.input.ids, b.targets.view({b.input.ids.size(0), b.input.ids.size(1)}), rng);
}

// A reward model reads the prompt and a response: as a text pair for an encoder, one text for a decoder.
ModelInput response_input(const TaskModel& m, const std::string& prompt, const std::string& response) {
  const InputFormat& in = m.inputs();
  if (m.base().text_framing() == models::TextFraming::ClsSep) return in.pair(prompt, response);
  return in.text(prompt + "\n" + response);
}

// dpo: the pairs' policy log-probabilities (chosen, rejected), each (1,).
std::pair<std::vector<Tensor>, std::vector<Tensor>> pair_logprobs(const TaskModel& m, const BatchTensors& b, Rng* rng) {
  const Tensor& ci = b.input.ids;
  const Tensor& ri = b.positive.ids;
  return {sequence_logprobs(m, ci, b.targets.view({ci.size(0), ci.size(1)}), rng),
          sequence_logprobs(m, ri, b.positive_targets.view({ri.size(0), ri.size(1)}), rng)};
}


std::vector<Tensor> sequence_logprobs(const TaskModel& m, const Tensor& ids, const Tensor& targets, Rng* rng) {
  return sequence_logprobs(decoder(m), ids, targets, rng);
}

std::vector<Tensor> sequence_logprobs(const models::GPT& gpt, const Tensor& ids, const Tensor& targets, Rng* rng) {
  const Tensor hidden = gpt.hidden(ids, 0, rng);  // (B, T, C)
  const std::vector<int32_t> t = targets.contiguous().to_int_vector();
  const int64_t B = ids.size(0), T = ids.size(1);
  std::vector<Tensor> out;
  for (int64_t r = 0; r < B; ++r) {
    int64_t n = 0;
    for (int64_t i = 0; i < T; ++i) n += t[static_cast<size_t>(r * T + i)] >= 0;
    // The fused head + cross-entropy gives the mean over the row's targets: times -n, the sum of log-probabilities.
    const Tensor ce = ops::lm_head_cross_entropy(hidden.select(0, r), gpt.lm_head_weight(), Tensor(), targets.select(0, r).contiguous());
    out.push_back(ops::scale(ce, -static_cast<float>(n)));
  }
  return out;
}

void add_reference_logprobs(const TaskModel& m, std::vector<Encoded>& data, int64_t batch_size) {
  autograd::NoGradGuard no_grad;
  m.module().eval();
  // The starting model, whatever m's weights are now (a resumed run's are a checkpoint's): under
  // LoRA the base with its adapters switched off, else the base opened afresh.
  const bool lora = m.spec().mode == AdaptMode::LoRA;
  std::shared_ptr<models::PretrainedModel> fresh;
  if (!lora) {
    fresh = interop::open_pretrained(m.spec().base).model;
    fresh->eval();
  }
  const models::GPT* ref = lora ? &decoder(m) : dynamic_cast<const models::GPT*>(fresh.get());
  if (!ref) throw UnsupportedError("dpo needs a decoder base model");
  struct AdaptersOff {
    const TaskModel& m;
    bool on;
    AdaptersOff(const TaskModel& model, bool lora) : m(model), on(lora) {
      if (on) set_lora_active(m.base(), false);
    }
    ~AdaptersOff() {
      if (on) set_lora_active(m.base(), true);
    }
  } off(m, lora);
  std::vector<size_t> order(data.size());
  std::iota(order.begin(), order.end(), 0);
  for (size_t s = 0; s < data.size(); s += static_cast<size_t>(batch_size)) {
    const size_t e = std::min(data.size(), s + static_cast<size_t>(batch_size));
    const BatchTensors b = make_batch(data, order, s, e, Task::DPO, m.spec().max_length);
    const Tensor& ci = b.input.ids;
    const Tensor& ri = b.positive.ids;
    const std::vector<Tensor> c = sequence_logprobs(*ref, ci, b.targets.view({ci.size(0), ci.size(1)}), nullptr);
    const std::vector<Tensor> r = sequence_logprobs(*ref, ri, b.positive_targets.view({ri.size(0), ri.size(1)}), nullptr);
    for (size_t i = s; i < e; ++i) data[i].ref_chosen = c[i - s].item(), data[i].ref_rejected = r[i - s].item();
  }
}

std::vector<Encoded> encode_sft(const TaskModel& m, const std::string& path, bool pack, SftData* stats) {
  SftData d = encode_instructions(read_instructions(path), tokenize::chat_template(m.spec().chat_template), m.tokenizer(),
                                  m.spec().max_length, pack, path);
  std::vector<Encoded> out(d.rows.size());
  for (size_t i = 0; i < d.rows.size(); ++i) {
    out[i].input.ids = std::move(d.rows[i].ids);
    out[i].token_targets = std::move(d.rows[i].targets);
  }
  d.rows.clear();
  if (stats) *stats = d;
  return out;
}

BatchTensors make_batch(const std::vector<Encoded>& data, const std::vector<size_t>& order, size_t begin, size_t end, Task task,
                        int64_t max_length) {
  std::vector<const ModelInput*> inputs, positives;
  for (size_t k = begin; k < end; ++k) {
    inputs.push_back(&data[order[k]].input);
    positives.push_back(&data[order[k]].positive);
  }
  BatchTensors b;
  b.input = pad_batch(inputs, kLengthMultiple, max_length);
  std::vector<int32_t> index;
  for (size_t k = begin; k < end; ++k) index.push_back(static_cast<int32_t>(order[k])), b.examples.push_back(&data[order[k]]);
  b.index = Tensor::from_data({static_cast<int64_t>(index.size())}, index);
  const int64_t B = static_cast<int64_t>(end - begin), T = b.input.ids.size(1);
  if (task == Task::Contrastive) {
    for (size_t k = begin; k < end; ++k)
      if (data[order[k]].has_negative) positives.push_back(&data[order[k]].negative);
    b.positive = pad_batch(positives, kLengthMultiple, max_length);
  } else if (task == Task::Reward) {
    b.positive = pad_batch(positives, kLengthMultiple, max_length);
  } else if (task == Task::DPO) {
    b.positive = pad_batch(positives, kLengthMultiple, max_length);
    std::vector<const std::vector<int32_t>*> chosen, rejected;
    std::vector<float> rc, rr;
    for (size_t k = begin; k < end; ++k) {
      chosen.push_back(&data[order[k]].token_targets), rejected.push_back(&data[order[k]].positive_targets);
      rc.push_back(data[order[k]].ref_chosen), rr.push_back(data[order[k]].ref_rejected);
    }
    b.targets = target_matrix(chosen, T);
    b.positive_targets = target_matrix(rejected, b.positive.ids.size(1));
    b.ref_chosen = Tensor::from_data({B}, rc);
    b.ref_rejected = Tensor::from_data({B}, rr);
  } else if (task == Task::GRPO || task == Task::PPO) {
    // the prompts (input) and the examples themselves: completions are sampled in the loss
  } else if (task == Task::Tag || task == Task::SFT) {
    std::vector<int32_t> t(static_cast<size_t>(B * T), -1);
    for (int64_t r = 0; r < B; ++r) {
      const auto& tt = data[order[begin + static_cast<size_t>(r)]].token_targets;
      std::copy(tt.begin(), tt.end(), t.begin() + r * T);
    }
    b.targets = Tensor::from_data({B * T}, t);
  } else {
    std::vector<int32_t> t;
    for (size_t k = begin; k < end; ++k) t.push_back(data[order[k]].label);
    b.targets = Tensor::from_data({B}, t);
  }
  return b;
}

eval::TaskMetrics evaluate_encoded(const TaskModel& m, const std::vector<Encoded>& data, int64_t batch_size) {
  autograd::NoGradGuard no_grad;
  m.module().eval();
  std::vector<size_t> order(data.size());
  std::iota(order.begin(), order.end(), 0);
  std::vector<int32_t> truth, predicted;
  double loss_sum = 0;
  int64_t loss_rows = 0;
  for (size_t s = 0; s < data.size(); s += static_cast<size_t>(batch_size)) {
    const size_t e = std::min(data.size(), s + static_cast<size_t>(batch_size));
    const BatchTensors b = make_batch(data, order, s, e, m.spec().task, m.spec().max_length);
    const Tensor logits = batch_logits(m, b, nullptr);
    const std::vector<int32_t> t = b.targets.to_int_vector();
    int64_t valid = 0;
    for (int32_t x : t) valid += x >= 0;
    if (valid) {
      loss_sum += ops::cross_entropy(logits, b.targets).item() * static_cast<double>(valid);
      loss_rows += valid;
    }
    const int64_t L = logits.size(1);
    const float* p = logits.data<float>();
    for (size_t r = 0; r < t.size(); ++r) {
      if (t[r] < 0) continue;
      truth.push_back(t[r]);
      predicted.push_back(static_cast<int32_t>(std::max_element(p + r * L, p + (r + 1) * L) - (p + r * L)));
    }
  }
  return eval::compute_metrics(m.spec().labels, truth, predicted, loss_rows ? loss_sum / static_cast<double>(loss_rows) : 0.0);
}

PreferenceMetrics evaluate_preferences(const TaskModel& m, const std::vector<Encoded>& data, int64_t batch_size) {
  autograd::NoGradGuard no_grad;
  m.module().eval();
  std::vector<size_t> order(data.size());
  std::iota(order.begin(), order.end(), 0);
  const Task task = m.spec().task;
  if (!task_info(task).paired || task == Task::Contrastive)
    throw ValueError("evaluate_preferences: '" + task_name(task) + "' is not a preference task");
  StepLog log;  // the task's loss adds each batch's pairs (reward: r(chosen), r(rejected); dpo: the implicit rewards)
  for (size_t s = 0; s < data.size(); s += static_cast<size_t>(batch_size)) {
    const size_t e = std::min(data.size(), s + static_cast<size_t>(batch_size));
    task_type(task).loss(m, make_batch(data, order, s, e, task, m.spec().max_length), nullptr, &log);
  }
  return log.pairs;
}

eval::LanguageMetrics evaluate_language(const TaskModel& m, const std::vector<Encoded>& data, int64_t batch_size) {
  autograd::NoGradGuard no_grad;
  m.module().eval();
  std::vector<size_t> order(data.size());
  std::iota(order.begin(), order.end(), 0);
  eval::LanguageMetrics r;
  double sum = 0;
  for (size_t s = 0; s < data.size(); s += static_cast<size_t>(batch_size)) {
    const size_t e = std::min(data.size(), s + static_cast<size_t>(batch_size));
    const BatchTensors b = make_batch(data, order, s, e, Task::SFT, m.spec().max_length);
    int64_t n = 0;
    for (int32_t x : b.targets.to_int_vector()) n += x >= 0;
    sum += sft_loss(m, b, nullptr).item() * static_cast<double>(n);
    r.tokens += n;
  }
  r.rows = static_cast<int64_t>(data.size());
  r.loss = r.tokens ? sum / static_cast<double>(r.tokens) : 0.0;
  r.perplexity = std::exp(r.loss);
  return r;
}

eval::RetrievalMetrics evaluate_pairs(const TaskModel& m, const std::vector<std::string>& queries, const std::vector<std::string>& documents,
                                int64_t batch_size) {
  m.module().eval();
  const Tensor q = embed_texts(m.base(), m.inputs(), queries, m.spec().pooling, true, batch_size);
  const Tensor d = embed_texts(m.base(), m.inputs(), documents, m.spec().pooling, true, batch_size);
  autograd::NoGradGuard no_grad;
  const Tensor sim = ops::linear(q, d);  // (N, N) cosine similarities
  const int64_t N = sim.size(0);
  const float* s = sim.data<float>();
  std::vector<int64_t> ranks(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) {
    int64_t above = 0;  // documents scored higher than query i's own
    for (int64_t j = 0; j < N; ++j) above += s[i * N + j] > s[i * N + i];
    ranks[static_cast<size_t>(i)] = 1 + above;
  }
  return eval::retrieval_metrics(ranks);
}

TaskReport response_loss_report(const TaskModel& m, const std::vector<Encoded>& data, int64_t batch_size) {
  const eval::LanguageMetrics r = evaluate_language(m, data, batch_size);
  char s[160];
  std::snprintf(s, sizeof s, "val response loss %.4f | val perplexity %.2f", r.loss, r.perplexity);
  return {"response-loss", r.to_json(), r.table(), s, r.loss};
}

TaskReport preference_report(const PreferenceMetrics& r, const std::string& prefix) {
  char s[160];
  std::snprintf(s, sizeof s, "val pairwise accuracy %.4f | val margin %.4f", r.accuracy, r.margin);
  return {"preference", r.to_json(prefix), r.table(), s, r.accuracy};
}

}  // namespace cornerstone::adapt

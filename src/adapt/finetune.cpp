#include "cornerstone/adapt/finetune.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <numeric>

#include "cornerstone/adapt/task_data.h"
#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/progress.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/ops/loss.h"
#include "cornerstone/ops/precision.h"
#include "cornerstone/train/optimizer.h"
#include "cornerstone/train/schedule.h"

namespace cornerstone::adapt {

namespace {

// One encoded example: token ids, and per token a target (-1: no loss there) for tagging, or one
// label for classification.
struct Encoded {
  std::vector<int32_t> ids;
  std::vector<int32_t> token_targets;  // tagging
  int32_t label = -1;                  // classification
};

int32_t label_index(const std::vector<std::string>& labels, const std::string& l, const std::string& where) {
  const auto it = std::lower_bound(labels.begin(), labels.end(), l);
  if (it == labels.end() || *it != l) {
    std::string known;
    for (size_t i = 0; i < labels.size() && i < 20; ++i) known += (i ? ", " : "") + labels[i];
    throw ValueError(where + ": unknown label '" + l + "' (the model knows: " + known + (labels.size() > 20 ? ", ..." : "") + ")");
  }
  return static_cast<int32_t>(it - labels.begin());
}

std::vector<Encoded> encode(const TaskModel& m, const std::string& path) {
  std::vector<Encoded> out;
  const auto& labels = m.spec().labels;
  if (m.spec().task == Task::Classify) {
    for (const auto& e : read_classification(path)) out.push_back({m.encode_text(e.text), {}, label_index(labels, e.label, path)});
  } else if (m.spec().task == Task::Tag) {
    for (const auto& e : read_tagging(path)) {
      auto [ids, word_of] = m.encode_words(e.tokens);
      std::vector<int32_t> t(ids.size(), -1);
      for (size_t i = 0; i < ids.size(); ++i)
        if (word_of[i] >= 0) t[i] = label_index(labels, e.tags[static_cast<size_t>(word_of[i])], path);
      out.push_back({std::move(ids), std::move(t), -1});
    }
  } else {
    throw UnsupportedError("this task is trained with finetune_sft");
  }
  return out;
}

struct BatchTensors {
  Tensor ids, lengths, targets;  // targets: (B) labels, or (B T) token targets
};

BatchTensors make_batch(const std::vector<Encoded>& data, const std::vector<size_t>& order, size_t begin, size_t end,
                        bool tagging) {
  int64_t T = 0;
  for (size_t k = begin; k < end; ++k) T = std::max<int64_t>(T, static_cast<int64_t>(data[order[k]].ids.size()));
  const int64_t B = static_cast<int64_t>(end - begin);
  std::vector<int32_t> ids(static_cast<size_t>(B * T), 0), lengths(static_cast<size_t>(B)), targets;
  targets.assign(static_cast<size_t>(tagging ? B * T : B), -1);
  for (int64_t b = 0; b < B; ++b) {
    const Encoded& e = data[order[begin + static_cast<size_t>(b)]];
    std::copy(e.ids.begin(), e.ids.end(), ids.begin() + b * T);
    lengths[static_cast<size_t>(b)] = static_cast<int32_t>(e.ids.size());
    if (tagging)
      std::copy(e.token_targets.begin(), e.token_targets.end(), targets.begin() + b * T);
    else
      targets[static_cast<size_t>(b)] = e.label;
  }
  return {Tensor::from_data({B, T}, ids), Tensor::from_data({B}, lengths),
          tagging ? Tensor::from_data({B * T}, targets) : Tensor::from_data({B}, targets)};
}

// Logits (rows, labels) of a batch: one row per sequence (classify) or per token (tag).
Tensor batch_logits(const TaskModel& m, const BatchTensors& b, Rng* rng) {
  if (m.classifier()) return m.classifier()->logits(b.ids, b.lengths, rng);
  const Tensor l = m.tagger()->logits(b.ids, rng);
  return l.view({l.size(0) * l.size(1), l.size(2)});
}

}  // namespace

TaskMetrics evaluate_task(const TaskModel& m, const std::string& path, int64_t batch_size) {
  const std::vector<Encoded> data = encode(m, path);
  autograd::NoGradGuard no_grad;
  m.module().eval();
  std::vector<size_t> order(data.size());
  std::iota(order.begin(), order.end(), 0);
  std::vector<int32_t> truth, predicted;
  double loss_sum = 0;
  int64_t loss_rows = 0;
  const bool tagging = m.spec().task == Task::Tag;
  for (size_t s = 0; s < data.size(); s += static_cast<size_t>(batch_size)) {
    const size_t e = std::min(data.size(), s + static_cast<size_t>(batch_size));
    const BatchTensors b = make_batch(data, order, s, e, tagging);
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
  return compute_metrics(m.spec().labels, truth, predicted, loss_rows ? loss_sum / static_cast<double>(loss_rows) : 0.0);
}

FinetuneResult finetune(TaskModel& m, const std::string& train_path, const std::string& val_path, const FinetuneOptions& o) {
  if (o.epochs <= 0 || o.batch_size <= 0) throw ValueError("finetune: epochs and batch size must be positive");
  const std::vector<Encoded> data = encode(m, train_path);
  const bool tagging = m.spec().task == Task::Tag;
  const bool full = m.spec().mode == AdaptMode::Full;
  const float lr = o.lr > 0 ? o.lr : (full ? 1e-4f : 1e-3f);
  const auto trainable = m.module().trainable_parameters();
  train::AdamW opt(trainable, train::AdamWConfig{lr, 0.9f, 0.999f, 1e-8f, o.weight_decay});
  std::vector<Tensor> params;
  for (const auto& [n, p] : trainable) params.push_back(p);

  const int64_t per_epoch = (static_cast<int64_t>(data.size()) + o.batch_size - 1) / o.batch_size;
  const int64_t total = per_epoch * o.epochs;
  train::CosineSchedule schedule{lr, lr * 0.1f, std::max<int64_t>(1, static_cast<int64_t>(o.warmup_fraction * static_cast<float>(total))), total};
  ops::PrecisionGuard precision(o.precision == "bf16" ? ops::Precision::BF16 : ops::Precision::F32);
  Rng shuffle(o.seed), dropout(o.seed ^ 0xd0ull);
  set_lora_dropout_rng(m.base(), &dropout);
  std::ofstream metrics;
  if (!o.metrics_path.empty()) metrics.open(o.metrics_path);

  FinetuneResult r;
  r.trainable_parameters = m.module().num_trainable_parameters();
  r.total_parameters = m.module().num_parameters();
  const auto t0 = std::chrono::steady_clock::now();
  Progress bar("finetune", total, "steps");
  std::vector<size_t> order(data.size());
  std::iota(order.begin(), order.end(), 0);
  for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[shuffle.below(i)]);  // Fisher-Yates
    m.module().train();
    double epoch_loss = 0;
    for (int64_t s = 0; s < per_epoch; ++s) {
      const size_t begin = static_cast<size_t>(s * o.batch_size), end = std::min(order.size(), begin + static_cast<size_t>(o.batch_size));
      const BatchTensors b = make_batch(data, order, begin, end, tagging);
      opt.zero_grad();
      Tensor loss = ops::cross_entropy(batch_logits(m, b, &dropout), b.targets);
      loss.backward();
      const double norm = train::clip_grad_norm(params, o.grad_clip);
      opt.step(schedule.at(r.steps));
      ++r.steps;
      const double l = loss.item();
      epoch_loss += l;
      if (metrics.is_open()) metrics << nlohmann::json{{"step", r.steps}, {"epoch", epoch + 1}, {"loss", l}, {"grad_norm", norm}}.dump() << "\n";
      if (!o.quiet) {
        char status[96];
        std::snprintf(status, sizeof status, "epoch %lld | loss %.4f", static_cast<long long>(epoch + 1), l);
        bar.update(r.steps, status);
      }
    }
    r.train_loss = epoch_loss / static_cast<double>(per_epoch);
    if (!val_path.empty()) {
      r.val = evaluate_task(m, val_path);
      if (metrics.is_open()) {
        nlohmann::json j = r.val.to_json();
        j["step"] = r.steps, j["epoch"] = epoch + 1, j["train_loss"] = r.train_loss;
        metrics << j.dump() << "\n";
      }
      if (!o.quiet)
        std::fprintf(stderr, "\nepoch %lld: train loss %.4f | val accuracy %.4f | val macro-F1 %.4f\n", static_cast<long long>(epoch + 1),
                     r.train_loss, r.val.accuracy, r.val.macro_f1);
    }
  }
  if (!o.quiet) bar.finish();
  set_lora_dropout_rng(m.base(), nullptr);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace cornerstone::adapt

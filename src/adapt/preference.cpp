#include "cornerstone/adapt/preference.h"

#include <cstdio>

#include "cornerstone/core/error.h"
#include "cornerstone/data/jsonl.h"
#include "cornerstone/ops/activation.h"
#include "cornerstone/ops/elementwise.h"

namespace cornerstone::adapt {

std::vector<PreferencePair> read_preference_pairs(const std::string& path) {
  std::vector<PreferencePair> out;
  data::for_each_jsonl(path, [&](const nlohmann::json& j, const std::string& where, int64_t line) {
    PreferencePair p{data::jsonl_string(j, "prompt", where), data::jsonl_string(j, "chosen", where),
                     data::jsonl_string(j, "rejected", where), line};
    if (p.chosen == p.rejected) throw FormatError(where + ": \"chosen\" and \"rejected\" are the same response (nothing to prefer)");
    if (p.chosen.empty() || p.rejected.empty()) throw FormatError(where + ": an empty \"chosen\" or \"rejected\" response");
    out.push_back(std::move(p));
  });
  if (out.empty()) throw ValueError("'" + path + "' has no preference pairs");
  return out;
}

Tensor bradley_terry_loss(const Tensor& chosen, const Tensor& rejected) {
  if (chosen.shape() != rejected.shape())
    throw ShapeError("bradley_terry_loss: chosen " + chosen.shape().str() + " and rejected " + rejected.shape().str() + " differ");
  return ops::scale(ops::mean(ops::log_sigmoid(ops::sub(chosen, rejected))), -1.0f);
}

std::string dpo_loss_name(DpoLoss l) { return l == DpoLoss::Sigmoid ? "sigmoid" : "ipo"; }

DpoLoss dpo_loss_from_name(const std::string& s) {
  if (s == "sigmoid") return DpoLoss::Sigmoid;
  if (s == "ipo") return DpoLoss::IPO;
  throw ValueError("unknown DPO loss '" + s + "' (expected sigmoid or ipo)");
}

Tensor dpo_loss(const Tensor& pc, const Tensor& pr, const Tensor& rc, const Tensor& rr, float beta, DpoLoss loss) {
  if (!(beta > 0)) throw ValueError("dpo: beta must be positive");
  for (const Tensor* t : {&pr, &rc, &rr})
    if (t->shape() != pc.shape()) throw ShapeError("dpo_loss: the four log-probability vectors must have one shape, got " + pc.shape().str() +
                                                   " and " + t->shape().str());
  const Tensor h = ops::sub(ops::sub(pc, rc), ops::sub(pr, rr));  // (B)
  if (loss == DpoLoss::Sigmoid) return ops::scale(ops::mean(ops::log_sigmoid(ops::scale(h, beta))), -1.0f);
  const Tensor d = ops::sub(h, Tensor::full(h.shape(), 1.0f / (2.0f * beta)));
  return ops::mean(ops::mul(d, d));
}

void PreferenceMetrics::add(const std::vector<float>& c, const std::vector<float>& r, double mean_loss) {
  if (c.empty()) return;
  for (size_t i = 0; i < c.size(); ++i) {
    chosen_sum_ += c[i];
    rejected_sum_ += r[i];
    right_ += c[i] > r[i];
  }
  loss_sum_ += mean_loss * static_cast<double>(c.size());
  pairs += static_cast<int64_t>(c.size());
  const double n = static_cast<double>(pairs);
  loss = loss_sum_ / n;
  accuracy = static_cast<double>(right_) / n;
  chosen = chosen_sum_ / n;
  rejected = rejected_sum_ / n;
  margin = chosen - rejected;
}

nlohmann::json PreferenceMetrics::to_json(const std::string& prefix) const {
  return {{"pairs", pairs},
          {prefix + "loss", loss},
          {prefix + "accuracy", accuracy},
          {prefix + "chosen", chosen},
          {prefix + "rejected", rejected},
          {prefix + "margin", margin}};
}

std::string PreferenceMetrics::table() const {
  char s[256];
  std::snprintf(s, sizeof s, "pairwise accuracy %.4f | loss %.4f | chosen %.4f | rejected %.4f | margin %.4f | %lld pairs\n", accuracy, loss,
                chosen, rejected, margin, static_cast<long long>(pairs));
  return s;
}

}  // namespace cornerstone::adapt

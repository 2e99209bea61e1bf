#include "cornerstone/eval/metrics.h"

#include <algorithm>
#include <cstdio>

#include "cornerstone/core/error.h"

namespace cornerstone::eval {

TaskMetrics compute_metrics(const std::vector<std::string>& labels, const std::vector<int32_t>& truth,
                            const std::vector<int32_t>& predicted, double loss) {
  if (truth.size() != predicted.size()) throw ValueError("metrics: truth and predictions differ in length");
  const size_t L = labels.size();
  TaskMetrics m;
  m.labels = labels;
  m.confusion.assign(L, std::vector<int64_t>(L, 0));
  m.examples = static_cast<int64_t>(truth.size());
  m.loss = loss;
  int64_t correct = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    ++m.confusion[static_cast<size_t>(truth[i])][static_cast<size_t>(predicted[i])];
    correct += truth[i] == predicted[i];
  }
  m.accuracy = truth.empty() ? 0 : static_cast<double>(correct) / static_cast<double>(truth.size());
  double f1_sum = 0;
  for (size_t c = 0; c < L; ++c) {
    int64_t tp = m.confusion[c][c], fp = 0, fn = 0;
    for (size_t o = 0; o < L; ++o)
      if (o != c) fp += m.confusion[o][c], fn += m.confusion[c][o];
    const double denom = static_cast<double>(2 * tp + fp + fn);
    f1_sum += denom > 0 ? 2.0 * static_cast<double>(tp) / denom : 0.0;
  }
  m.macro_f1 = L ? f1_sum / static_cast<double>(L) : 0.0;
  return m;
}

nlohmann::json TaskMetrics::to_json() const {
  return {{"accuracy", accuracy}, {"macro_f1", macro_f1}, {"loss", loss},
          {"examples", examples}, {"labels", labels},     {"confusion", confusion}};
}

std::string TaskMetrics::table() const {
  char buf[256];
  std::snprintf(buf, sizeof buf, "accuracy %.4f | macro-F1 %.4f | loss %.4f | %lld examples\n", accuracy, macro_f1, loss,
                static_cast<long long>(examples));
  std::string out = buf;
  if (labels.size() > 20) return out;  // a confusion matrix this large is not readable in a terminal
  size_t w = 6;
  for (const auto& l : labels) w = std::max(w, std::min<size_t>(l.size(), 12) + 1);
  out += "confusion (rows: true, columns: predicted)\n" + std::string(w, ' ');
  for (const auto& l : labels) {
    std::snprintf(buf, sizeof buf, "%*s", static_cast<int>(w), l.substr(0, 12).c_str());
    out += buf;
  }
  out += "\n";
  for (size_t r = 0; r < labels.size(); ++r) {
    std::snprintf(buf, sizeof buf, "%-*s", static_cast<int>(w), labels[r].substr(0, 12).c_str());
    out += buf;
    for (size_t c = 0; c < labels.size(); ++c) {
      std::snprintf(buf, sizeof buf, "%*lld", static_cast<int>(w), static_cast<long long>(confusion[r][c]));
      out += buf;
    }
    out += "\n";
  }
  return out;
}

RetrievalMetrics retrieval_metrics(const std::vector<int64_t>& ranks) {
  RetrievalMetrics m;
  m.queries = static_cast<int64_t>(ranks.size());
  for (int64_t r : ranks) {
    if (r < 1) throw ValueError("retrieval metrics: ranks start at 1, got " + std::to_string(r));
    m.recall_at_1 += r == 1, m.recall_at_5 += r <= 5, m.mrr += 1.0 / static_cast<double>(r);
  }
  if (m.queries) {
    const double n = static_cast<double>(m.queries);
    m.recall_at_1 /= n, m.recall_at_5 /= n, m.mrr /= n;
  }
  return m;
}

nlohmann::json RetrievalMetrics::to_json() const {
  return {{"queries", queries}, {"recall_at_1", recall_at_1}, {"recall_at_5", recall_at_5}, {"mrr", mrr}};
}

std::string RetrievalMetrics::table() const {
  char buf[160];
  std::snprintf(buf, sizeof buf, "recall@1 %.4f | recall@5 %.4f | MRR %.4f | %lld queries\n", recall_at_1, recall_at_5, mrr,
                static_cast<long long>(queries));
  return buf;
}

nlohmann::json LanguageMetrics::to_json() const {
  return {{"loss", loss}, {"perplexity", perplexity}, {"tokens", tokens}, {"rows", rows}};
}

std::string LanguageMetrics::table() const {
  char buf[160];
  std::snprintf(buf, sizeof buf, "response loss %.4f | perplexity %.2f | %lld response tokens\n", loss, perplexity,
                static_cast<long long>(tokens));
  return buf;
}

}  // namespace cornerstone::eval

// Classification metrics (accuracy, macro-averaged F1, the confusion matrix) and retrieval metrics
// (recall@k, mean reciprocal rank) for sentence embeddings.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace cornerstone::eval {

struct TaskMetrics {
  std::vector<std::string> labels;
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
  int64_t examples = 0;
  double accuracy = 0;
  double macro_f1 = 0;  // mean over labels of F1 (a label never true nor predicted counts as F1 = 0)
  double loss = 0;      // mean cross-entropy

  // {"accuracy", "macro_f1", "loss", "examples", "labels", "confusion"}
  nlohmann::json to_json() const;
  // A readable report: accuracy, F1 and the confusion matrix.
  std::string table() const;
};

// From true and predicted label indices in [0, labels.size()).
TaskMetrics compute_metrics(const std::vector<std::string>& labels, const std::vector<int32_t>& truth,
                            const std::vector<int32_t>& predicted, double loss);

// Query i's relevant document is document i among all the documents of the set.
struct RetrievalMetrics {
  int64_t queries = 0;
  double recall_at_1 = 0;  // share of queries whose own document ranks first
  double recall_at_5 = 0;
  double mrr = 0;          // mean of 1 / rank

  nlohmann::json to_json() const;  // {"queries", "recall_at_1", "recall_at_5", "mrr"}
  std::string table() const;
};

// Instruction tuning: next-token cross-entropy over the response tokens only.
struct LanguageMetrics {
  int64_t rows = 0;    // packed rows (or examples, without packing)
  int64_t tokens = 0;  // response tokens scored
  double loss = 0;     // mean cross-entropy per response token (nats)
  double perplexity = 0;

  nlohmann::json to_json() const;  // {"loss", "perplexity", "tokens", "rows"}
  std::string table() const;
};

// From the rank (1 = first) of each query's relevant document.
RetrievalMetrics retrieval_metrics(const std::vector<int64_t>& ranks);

}  // namespace cornerstone::eval

// Classification metrics: accuracy, macro-averaged F1 and the confusion matrix.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace cornerstone::adapt {

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

}  // namespace cornerstone::adapt

#include "cornerstone/rag/rerank.h"

#include <algorithm>
#include <cctype>

#include "cornerstone/core/error.h"

namespace cornerstone::rag {

CrossEncoder::CrossEncoder(const std::string& path) : model_(load(path)) {
  if (!model_.can(Capability::Classifier))
    throw ValueError("--rerank: '" + path + "' is not a cross-encoder (" + model_.describe() +
                     "); train one with `cornerstone finetune --task rerank`");
  const auto& labels = model_.labels();
  for (const char* name : {"relevant", "positive", "yes", "true", "1"})
    for (size_t i = 0; i < labels.size(); ++i) {
      std::string l = labels[i];
      std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (l == name) {
        relevant_ = i;
        return;
      }
    }
  std::string list;
  for (const auto& l : labels) list += (list.empty() ? "" : ", ") + l;
  throw ValueError("--rerank: '" + path + "' has no \"relevant\" label to score by (its labels: " + list + ")");
}

std::vector<double> CrossEncoder::score(const std::string& query, const std::vector<std::string>& passages) const {
  const std::vector<std::string> queries(passages.size(), query);
  const Tensor p = model_.classify(queries, passages);
  const int64_t L = p.size(1);
  const float* x = p.data<float>();
  std::vector<double> out(passages.size());
  for (size_t i = 0; i < passages.size(); ++i) out[i] = x[static_cast<int64_t>(i) * L + static_cast<int64_t>(relevant_)];
  return out;
}

}  // namespace cornerstone::rag

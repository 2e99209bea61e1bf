// A cross-encoder reranker: a classifier of (query, passage) pairs (`finetune --task rerank`, or
// any `--task classify` fine-tune on text pairs with a "relevant" label) that reads both texts
// together and scores how relevant the passage is: P(relevant).
#pragma once

#include <string>
#include <vector>

#include "cornerstone/cornerstone.h"
#include "cornerstone/rag/index.h"

namespace cornerstone::rag {

class CrossEncoder : public Reranker {
 public:
  // ValueError when the model is not a classifier with a "relevant" (or "positive", "yes",
  // "true", "1") label.
  explicit CrossEncoder(const std::string& path);
  std::vector<double> score(const std::string& query, const std::vector<std::string>& passages) const override;

 private:
  Model model_;
  size_t relevant_ = 0;  // the label whose probability is the score
};

}  // namespace cornerstone::rag

#include "cornerstone/eval/images.h"

#include <algorithm>

#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/core/error.h"

namespace cornerstone::eval {

TaskMetrics evaluate_images(const models::ImageClassifier& model, const data::ImageSet& set, int64_t batch) {
  const models::ImageSpec& spec = model.image_spec();
  if (static_cast<int64_t>(set.classes.size()) != spec.num_labels)
    throw ValueError(set.source + ": " + std::to_string(set.classes.size()) + " classes, the model has " + std::to_string(spec.num_labels));
  if (batch < 1) throw ValueError("evaluation batch must be positive");
  autograd::NoGradGuard no_grad;
  std::vector<int32_t> truth, predicted;
  double loss = 0;
  for (int64_t begin = 0; begin < set.size(); begin += batch) {
    const int64_t n = std::min(batch, set.size() - begin);
    std::vector<int64_t> rows(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) rows[static_cast<size_t>(i)] = begin + i;
    const data::Batch b = data::image_batch(set, rows, spec.transform());
    const Tensor logits = model.image_logits(b[data::batch_keys::pixels]);
    loss += model.image_loss(b).item() * static_cast<double>(n);
    const std::vector<float> l = logits.to_vector();
    const int64_t K = logits.size(1);
    for (int64_t i = 0; i < n; ++i) {
      const float* row = l.data() + i * K;
      predicted.push_back(static_cast<int32_t>(std::max_element(row, row + K) - row));
    }
    const std::vector<int32_t> y = b[data::batch_keys::labels].to_int_vector();
    truth.insert(truth.end(), y.begin(), y.end());
  }
  std::vector<std::string> labels;
  for (int64_t i = 0; i < spec.num_labels; ++i) labels.push_back(spec.labels.empty() ? set.classes[static_cast<size_t>(i)] : spec.label(i));
  return compute_metrics(labels, truth, predicted, loss / static_cast<double>(std::max<int64_t>(1, set.size())));
}

}  // namespace cornerstone::eval

// Image classification metrics: an image classifier's accuracy, macro-F1, loss and confusion matrix
// on a labelled image set (data/images.h), in batches without gradients.
#pragma once

#include <cstdint>

#include "cornerstone/data/images.h"
#include "cornerstone/eval/metrics.h"
#include "cornerstone/models/pretrained.h"

namespace cornerstone::eval {

// Every image of `set` (brought to the model's shape and normalised by its ImageSpec), `batch` at a
// time. The set's class count must equal the model's num_labels (ValueError naming both).
TaskMetrics evaluate_images(const models::ImageClassifier& model, const data::ImageSet& set, int64_t batch = 64);

}  // namespace cornerstone::eval

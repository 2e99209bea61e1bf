// Image classification metrics: an image classifier's accuracy, macro-F1, loss and confusion matrix
// on a labelled image set (data/images.h), in batches without gradients.
#pragma once

#include <cstdint>

#include "cornerstone/data/images.h"
#include "cornerstone/eval/metrics.h"
#include "cornerstone/models/image_text.h"
#include "cornerstone/models/pretrained.h"
#include "cornerstone/tokenize/tokenizer.h"

namespace cornerstone::eval {

// Every image of `set` (brought to the model's shape and normalised by its ImageSpec), `batch` at a
// time. The set's class count must equal the model's num_labels (ValueError naming both).
TaskMetrics evaluate_images(const models::ImageClassifier& model, const data::ImageSet& set, int64_t batch = 64);

// Zero-shot classification by an image-text model (CLIP): each label becomes a caption
// (`prompt_template` with "{}" replaced by the label), and an image's label is the caption its
// embedding is closest to. Probabilities (N, L) of softmax(exp(logit_scale) x cosine similarity).
Tensor zero_shot_probabilities(const models::ImageTextModel& model, const tokenize::Tokenizer& tok, const Tensor& image_embeds,
                               const std::vector<std::string>& labels, const std::string& prompt_template, int64_t context);
// "{}" in `prompt_template` replaced by `label` (ValueError when the template has no "{}").
std::string fill_prompt(const std::string& prompt_template, const std::string& label);

// An image-text model on a set of captioned images (JSONL {"image", "text", "label"?}): image <->
// text retrieval among the set's pairs, and, when the set has labels of two or more classes,
// zero-shot classification of its images into them (with the majority-class rate beside it).
struct ImageTextEvaluation {
  models::ImageTextRecall recall;
  bool zero_shot = false;
  TaskMetrics classes;        // zero-shot predictions against the labels
  double majority_rate = 0;   // the share of the most frequent class (a constant guess)
  std::string prompt_template;
  nlohmann::json to_json() const;
  std::string table() const;
};
ImageTextEvaluation evaluate_image_text(const models::ImageTextModel& model, const tokenize::Tokenizer& tok, const data::ImageSet& set,
                                        const std::string& prompt_template, int64_t context, int64_t batch = 64);

}  // namespace cornerstone::eval

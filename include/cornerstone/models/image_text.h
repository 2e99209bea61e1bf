// Using an image-text model (models::ImageTextModel, CLIP): captions as token ids, embeddings of
// whole image sets and caption lists, and image <-> text retrieval scores. Pretraining's
// validation, `cornerstone evaluate`, `embed --image` and `classify` share them.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cornerstone/data/images.h"
#include "cornerstone/models/pretrained.h"
#include "cornerstone/tokenize/tokenizer.h"

namespace cornerstone::models {

// The caption's tokens then the model's end-of-text token, the tokens cut to fit `context`.
std::vector<int32_t> caption_ids(const tokenize::Tokenizer& tok, const std::string& text, int64_t eos, int64_t context);
// Captions as a batch: ids (B, T) right-padded with the end-of-text token, lengths (B).
data::Batch caption_batch(const std::vector<std::vector<int32_t>>& captions, int64_t eos);
// Checks that a tokenizer fits the model: its ids within the text tower's vocabulary and its
// end-of-text token the model's. Throws ValueError naming `where` and the numbers.
void check_caption_tokenizer(const ImageTextModel& model, const PretrainedModel& base, const tokenize::Tokenizer& tok, const std::string& where);

// Unit-length embeddings (N, P) of every image of `set` / every caption, without gradients, in
// batches of `batch` (the model should be in eval mode).
Tensor embed_image_set(const ImageTextModel& model, const data::ImageSet& set, int64_t batch = 64);
Tensor embed_captions(const ImageTextModel& model, const std::vector<std::vector<int32_t>>& captions, int64_t batch = 64);

// Recall@k of image -> text (image i's own caption i among all N captions) and text -> image,
// from unit embeddings of N pairs. Ties count against the pair.
struct ImageTextRecall {
  int64_t pairs = 0;
  double image_to_text[3] = {0, 0, 0};  // recall@1, @5, @10
  double text_to_image[3] = {0, 0, 0};
  nlohmann::json to_json() const;
};
ImageTextRecall image_text_recall(const Tensor& image_embeds, const Tensor& text_embeds);

}  // namespace cornerstone::models

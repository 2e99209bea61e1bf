// How text becomes a model's input, per model family:
//
//   decoder   the text's tokens, then the end-of-text token
//   encoder   [CLS] text [SEP], or for a pair [CLS] a [SEP] b [SEP] with segment ids 0 ... 0 1 ... 1
//             (BERT)
//
// Inputs longer than max_length are cut: a single text at its end, a pair on its longer side first
// (Hugging Face's "longest_first"), a tagged sentence after the token that fills the room.
// Batches are right-padded; the models mask the padding (models/pretrained.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cornerstone/core/tensor.h"
#include "cornerstone/data/batch.h"
#include "cornerstone/models/pretrained.h"
#include "cornerstone/tokenize/tokenizer.h"

namespace cornerstone::adapt {

struct ModelInput {
  std::vector<int32_t> ids;
  std::vector<int32_t> segments;  // empty unless a pair
  std::vector<int32_t> word_of;   // words(): per token, the index of the word it starts, else -1
};

class InputFormat {
 public:
  // `framing`: the model's (models::PretrainedModel::text_framing). Throws ValueError when a
  // [CLS] text [SEP] model's tokenizer lacks [CLS] or [SEP].
  InputFormat(tokenize::Tokenizer tokenizer, models::TextFraming framing, int64_t max_length);

  ModelInput text(const std::string& text) const;
  // Throws UnsupportedError for a decoder: a pair needs an encoder's separator and segment ids.
  ModelInput pair(const std::string& a, const std::string& b) const;
  // A pre-split sentence (tagging): each word's pieces, word_of marking the first piece of each.
  ModelInput words(const std::vector<std::string>& words) const;

  const tokenize::Tokenizer& tokenizer() const { return tokenizer_; }
  int64_t max_length() const { return max_length_; }

 private:
  tokenize::Tokenizer tokenizer_;
  bool encoder_;
  int64_t max_length_;
  int32_t cls_ = -1, sep_ = -1;
};

struct PaddedBatch {
  Tensor ids;       // (B, T) i32, right-padded with id 0
  Tensor lengths;   // (B) i32
  Tensor segments;  // (B, T) i32 when some input is a pair, else undefined

  // The same tensors as a model's batch: ids, lengths (and segments).
  data::Batch batch() const;
};

// The batch's length is the longest input's, rounded up to a multiple of `length_multiple` (capped
// at `max_length` when positive): batches of varying lengths then come in a few shapes, whose
// buffers the caching allocator reuses instead of keeping one set per length.
PaddedBatch pad_batch(const std::vector<const ModelInput*>& inputs, int64_t length_multiple = 1, int64_t max_length = 0);

}  // namespace cornerstone::adapt

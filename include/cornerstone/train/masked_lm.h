// Masked-language-model batches (BERT's pretraining objective, Devlin et al. 2019).
//
// Each row is a window of the token stream laid out as
//
//   [CLS] A... [SEP] B... [SEP]   segments 0 ... 0 1 ... 1    (sentence pairs: A and B are two
//   [CLS] W... [SEP]              segments 0 ... 0             consecutive spans, split at a random point)
//
// then masked: every token that is not special is selected with probability `probability`
// (15%); of the selected, 80% become [MASK], 10% a uniformly random token and 10% stay as they
// are. The targets are the original ids at the selected positions and -1 elsewhere, so the loss
// counts the selected positions only. With whole-word masking a word (a token and the "##"
// continuation pieces after it) is selected or not as a unit; each of its pieces then draws its own
// 80/10/10 replacement, as in Google's whole-word-masking models.
//
// Everything random is a function of (seed, step, micro-batch, row, position): window starts come
// from the causal sampler's counters (train/batch_sampler.h), the masks from a Philox stream keyed
// per row, so a resumed run sees exactly the batches a straight run would.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "cornerstone/data/token_shards.h"
#include "cornerstone/tokenize/tokenizer.h"
#include "cornerstone/train/batch_sampler.h"

namespace cornerstone::train {

struct MaskingConfig {
  float probability = 0.15f;     // share of (non-special) tokens selected for prediction
  float mask_fraction = 0.8f;    // of the selected: replaced by [MASK]
  float random_fraction = 0.1f;  // of the selected: replaced by a random token (the rest stay)
  bool whole_word = false;
  bool sentence_pairs = true;    // [CLS] A [SEP] B [SEP] with segment ids, else [CLS] W [SEP]

  void validate() const;  // throws ValueError naming the key
  nlohmann::json to_json() const;
  static MaskingConfig from_json(const nlohmann::json& j, const std::string& where);
};

// The tokens masking needs to know about, from the data's tokenizer.
struct MaskVocabulary {
  int32_t cls = -1, sep = -1, mask = -1;
  int64_t size = 0;                // random replacements are drawn from [0, size)
  std::vector<uint8_t> special;    // never selected ([CLS], [SEP], [PAD], ...)
  std::vector<uint8_t> continues;  // "##" pieces: continue the previous token's word

  // Throws ValueError naming the missing token ([CLS], [SEP], [MASK]) and the tokenizer.
  static MaskVocabulary from_tokenizer(const tokenize::Tokenizer& tok, const std::string& where);
};

// Masks one row in place: `ids` (T) becomes the model input and `targets` (T) gets the original
// ids of the selected positions, -1 elsewhere. `key` identifies the row's random stream.
// Returns the number of selected positions.
int64_t mask_row(std::span<int32_t> ids, std::span<int32_t> targets, const MaskingConfig& cfg, const MaskVocabulary& vocab,
                 uint64_t key);

class MaskedLMSampler {
 public:
  // Throws ValueError when a row has no room for text (seq_len too small) or the data is shorter
  // than one window.
  // `batch` rows per process; `shard`: which rows of the global batch (train/data_parallel.h).
  MaskedLMSampler(const data::TokenDataset& data, int64_t batch, int64_t seq_len, uint64_t seed, MaskingConfig cfg,
                  MaskVocabulary vocab, Shard shard = {});

  // Micro-batch `micro` of optimizer step `step`: inputs, targets and segments (B, T).
  data::Batch sample(int64_t step, int64_t micro) const;
  // The i-th of a fixed, evenly spaced set of evaluation batches, masked the same way every call.
  data::Batch eval_batch(int64_t i, int64_t num_batches) const;

  const MaskingConfig& config() const { return cfg_; }

 private:
  // `first_row`: the global index of row 0 (training rows of a shard; 0 for evaluation).
  data::Batch rows(const std::vector<uint64_t>& starts, uint64_t salt, int64_t step, int64_t micro, int64_t first_row) const;
  const data::TokenDataset& data_;
  BatchSampler windows_;  // window starts (of text_len_ tokens), counter-based
  int64_t batch_, seq_len_, text_len_;
  int64_t first_row_;  // global index of this process's first training row
  uint64_t seed_;
  MaskingConfig cfg_;
  MaskVocabulary vocab_;
};

}  // namespace cornerstone::train

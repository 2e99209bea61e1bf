// Normalizers: the first stage of the pipeline, text -> text (internal).
//
// Supported tokenizer.json types: NFC, NFD, NFKC, NFKD, Lowercase, StripAccents, Strip, Replace,
// Prepend, BertNormalizer, Sequence. Each maps to the Hugging Face tokenizers semantics; offsets
// are not tracked (Cornerstone's encode returns ids only).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "tokenize/components.h"

namespace cornerstone::tokenize {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual std::string normalize(std::string_view text) const = 0;
  virtual OrderedJson to_json() const = 0;

  // Builds a normalizer from its tokenizer.json object at `path` ("normalizer", ...).
  static std::unique_ptr<Normalizer> from_json(const Json& json, const std::string& path);
};

// BERT's normalizer, also used directly by the vocab.txt loader.
std::unique_ptr<Normalizer> make_bert_normalizer(bool clean_text, bool handle_chinese_chars, int strip_accents,
                                                 bool lowercase);  // strip_accents: -1 unset, 0 no, 1 yes

}  // namespace cornerstone::tokenize

// Post-processors: add the model's special tokens around an encoded sequence when the caller asks
// for them (encode(text, add_special = true)) (internal).
//
// Supported tokenizer.json types: TemplateProcessing, BertProcessing, RobertaProcessing,
// ByteLevel (no change to ids), Sequence. Only the single-sequence template is applied; the pair
// template is kept for round trips.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenize/components.h"

namespace cornerstone::tokenize {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual void process(std::vector<int32_t>& ids) const = 0;
  virtual OrderedJson to_json() const = 0;

  static std::unique_ptr<PostProcessor> from_json(const Json& json, const std::string& path);
};

// "[CLS] $A [SEP]"-style processor for the legacy-format loaders: the `prefix` tokens, the
// sequence, then the `suffix` tokens, each given as (content, id).
std::unique_ptr<PostProcessor> make_template_processor(const std::vector<std::pair<std::string, int32_t>>& prefix,
                                                       const std::vector<std::pair<std::string, int32_t>>& suffix);

}  // namespace cornerstone::tokenize

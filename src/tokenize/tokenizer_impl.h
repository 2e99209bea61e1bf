// The parts of a loaded tokenizer (internal): what Tokenizer::Impl holds and how the loaders
// and the trainer assemble one.
#pragma once

#include <array>
#include <memory>
#include <optional>

#include "cornerstone/tokenize/tokenizer.h"
#include "tokenize/added_vocabulary.h"
#include "tokenize/decoder.h"
#include "tokenize/model.h"
#include "tokenize/normalizer.h"
#include "tokenize/post_processor.h"
#include "tokenize/pre_tokenizer.h"

namespace cornerstone::tokenize {

struct Tokenizer::Impl {
  std::unique_ptr<Normalizer> normalizer;        // may be null
  std::unique_ptr<PreTokenizer> pre_tokenizer;   // may be null: the whole text is one piece
  std::unique_ptr<Model> model;                  // never null
  std::unique_ptr<PostProcessor> post_processor; // may be null
  std::unique_ptr<Decoder> decoder;              // may be null: tokens joined with spaces
  AddedVocabulary added;
  std::array<std::optional<int32_t>, 7> specials; // indexed by SpecialRole
  bool byte_level = false;
  int64_t vocab_size = 0;
};

// Completes a tokenizer whose components are set: builds the added-token matchers (which need
// the normalizer), the vocabulary size and the special-token roles (`config`, when not null, is
// a parsed tokenizer_config.json).
std::shared_ptr<const Tokenizer::Impl> finish_impl(std::unique_ptr<Tokenizer::Impl> impl,
                                                   std::vector<AddedToken> added_tokens, const Json* config);

// The pieces of tokenizer.json handling shared by the loaders.
std::unique_ptr<Tokenizer::Impl> impl_from_json(const Json& root, std::vector<AddedToken>& added_tokens);

}  // namespace cornerstone::tokenize

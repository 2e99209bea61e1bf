// Added tokens: strings matched in the input before normalization and pre-tokenization, each
// encoded as its own id (internal). Special tokens (BOS, <|im_start|>, [SEP]...) are the usual
// kind; non-special added tokens exist too.
//
// Matching follows the reference: leftmost-longest among the tokens; `single_word` tokens match
// only between non-word characters; `lstrip` / `rstrip` swallow the whitespace on their left /
// right; tokens with `normalized: false` are matched on the raw input, the others on the
// normalized text.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenize/components.h"

namespace cornerstone::tokenize {

class Normalizer;

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = false;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;

  OrderedJson to_json() const;
  static AddedToken from_json(const Json& json, const std::string& path);
};

class AddedVocabulary {
 public:
  // One stretch of the input: an added token (id >= 0) or text to encode normally (id == -1).
  struct Segment {
    size_t begin, end;
    int32_t id;
  };

  AddedVocabulary() = default;
  // `normalizer` (may be null) spells the content of normalized tokens as they appear after
  // normalization.
  AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer);

  // Splits `text` on the raw (normalized == false) or the normalized tokens.
  void split(std::string_view text, bool normalized_tokens, std::vector<Segment>& out) const;
  bool has_normalized_tokens() const { return !normalized_.patterns.empty(); }

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  const AddedToken* find(std::string_view content) const;
  const AddedToken* find(int32_t id) const;

 private:
  struct Matcher {
    struct Pattern {
      std::string text;
      size_t token;  // index into tokens_
    };
    std::vector<Pattern> patterns;              // longest first
    std::array<std::vector<uint32_t>, 256> by_first_byte;  // indices into patterns
  };
  void build(Matcher& m, bool normalized, const Normalizer* normalizer);
  void split_with(const Matcher& m, std::string_view text, std::vector<Segment>& out) const;

  std::vector<AddedToken> tokens_;
  std::unordered_map<int32_t, size_t> by_id_;
  std::unordered_map<std::string, size_t> by_content_;
  Matcher raw_, normalized_;
};

}  // namespace cornerstone::tokenize

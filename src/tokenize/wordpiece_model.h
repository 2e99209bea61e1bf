// WordPiece model (BERT) (internal).
//
// encode(word): greedy longest-match-first from the left; every piece after the first carries
// the continuing-subword prefix ("##"). If some position has no match, or the word is longer
// than max_input_chars_per_word characters, the whole word becomes the unknown token. An
// ill-formed UTF-8 byte counts as one character that no vocabulary entry matches.
#pragma once

#include <string>
#include <vector>

#include "tokenize/flat_maps.h"
#include "tokenize/model.h"

namespace cornerstone::tokenize {

struct WordPieceConfig {
  std::vector<std::pair<std::string, int32_t>> vocab;
  std::string unk_token = "[UNK]";
  std::string continuing_subword_prefix = "##";
  int64_t max_input_chars_per_word = 100;
};

class WordPieceModel final : public Model {
 public:
  WordPieceModel(WordPieceConfig config, const std::string& path);

  void encode(std::string_view word, std::vector<int32_t>& out) const override;
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  const std::string* id_to_token(int32_t id) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(tokens_.size()); }
  std::optional<std::string> unk_token() const override { return unk_token_; }
  OrderedJson to_json() const override;

  static std::unique_ptr<WordPieceModel> from_json(const Json& json, const std::string& path);

 private:
  std::vector<std::string> tokens_;
  std::vector<bool> present_;
  TokenIdMap ids_;
  std::string unk_token_;
  std::string prefix_;
  int64_t max_chars_;
  int32_t unk_id_;
  size_t longest_token_ = 0;  // bytes of the longest vocabulary entry: no longer candidate can match
};

}  // namespace cornerstone::tokenize

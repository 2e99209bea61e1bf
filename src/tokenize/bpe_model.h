// Byte-pair encoding model (internal).
//
// encode(piece): split the piece into initial symbols (bytes in byte-level mode, characters
// otherwise, with byte-fallback / unknown-token handling), then repeatedly apply the merge of
// lowest rank, leftmost first, until none applies. The merge loop keeps the symbols in a linked
// list and the candidate merges in a binary heap, O(n log n) per piece; results are memoised
// per thread (word_cache.h).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tokenize/flat_maps.h"
#include "tokenize/model.h"

namespace cornerstone::tokenize {

struct BpeConfig {
  std::vector<std::pair<std::string, int32_t>> vocab;      // token, id
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
  std::optional<std::string> unk_token;
  std::optional<std::string> continuing_subword_prefix;
  std::optional<std::string> end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
  bool byte_level = false;  // pieces arrive as raw bytes (ByteLevel pre-tokenizer)
};

class BpeModel final : public Model {
 public:
  // `path` names the JSON object the config came from, for error messages ("model").
  BpeModel(BpeConfig config, const std::string& path);

  void encode(std::string_view piece, std::vector<int32_t>& out) const override;
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  const std::string* id_to_token(int32_t id) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(tokens_.size()); }
  std::optional<std::string> unk_token() const override { return config_.unk_token; }
  OrderedJson to_json() const override;

  static std::unique_ptr<BpeModel> from_json(const Json& json, const std::string& path, bool byte_level);

 private:
  void initial_symbols(std::string_view piece, std::vector<int32_t>& symbols) const;
  void merge(std::vector<int32_t>& symbols) const;

  BpeConfig config_;  // vocab and merges are released after construction
  std::vector<std::string> tokens_;  // id -> token ("" for an unused id)
  std::vector<bool> present_;
  TokenIdMap ids_;
  MergeMap merges_;
  std::vector<std::pair<int32_t, int32_t>> merge_list_;  // rank -> pair, for to_json
  std::array<int32_t, 256> byte_ids_{};                  // byte-level: byte -> id (-1: absent)
  std::array<int32_t, 256> fallback_ids_{};              // byte_fallback: byte -> id of <0xXX>
  int32_t unk_id_ = -1;
  bool plain_symbols_ = true;  // no continuing prefix / end-of-word suffix
  uint64_t serial_;            // identifies this model's per-thread word caches
};

}  // namespace cornerstone::tokenize

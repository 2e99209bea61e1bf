// Pre-tokenizers: split normalized text into the pieces ("words") the model encodes one by one
// (internal).
//
// Supported tokenizer.json types: ByteLevel, Split, Metaspace, Whitespace, WhitespaceSplit,
// Punctuation, Digits, BertPreTokenizer, Sequence, with the Hugging Face split behaviours
// (Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenize/components.h"

namespace cornerstone::tokenize {

// Text split into pieces: ranges over one buffer, so that splitting never copies. `at_start` marks
// the piece that begins the original input (Metaspace's prepend_scheme "first" depends on it).
struct PreTokenized {
  struct Piece {
    uint32_t begin, end;
    bool at_start;
  };
  std::string text;
  std::vector<Piece> pieces;

  PreTokenized(std::string s, bool at_start);
  std::string_view view(const Piece& p) const { return std::string_view(text).substr(p.begin, p.end - p.begin); }
};

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(PreTokenized& pt) const = 0;
  virtual OrderedJson to_json() const = 0;

  // True for a ByteLevel pre-tokenizer: its pieces are byte strings that the model sees through
  // the GPT-2 byte-to-character table. Cornerstone keeps them as raw bytes and translates the
  // vocabulary instead (see bpe_model.h), so ByteLevel must come last in a Sequence.
  virtual bool is_byte_level() const { return false; }

  static std::unique_ptr<PreTokenizer> from_json(const Json& json, const std::string& path);
};

// The pre-tokenizers the legacy-format loaders and the trainer build directly.
std::unique_ptr<PreTokenizer> make_byte_level_pre_tokenizer(bool add_prefix_space, bool use_regex);
std::unique_ptr<PreTokenizer> make_bert_pre_tokenizer();

// GPT-2's pattern, used by ByteLevel when use_regex is true.
inline constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

}  // namespace cornerstone::tokenize

// Tokenizer: text <-> token ids, compatible with Hugging Face `tokenizer.json` files.
//
//   auto tok = cornerstone::tokenize::Tokenizer::load("models/qwen3/");   // folder or file
//   std::vector<int32_t> ids = tok.encode("Hello world!");                 // [9707, 1879, 0]
//   std::string text = tok.decode(ids);                                    // "Hello world!"
//
// The pipeline is the reference library's: added tokens are split out first, then the rest is
// normalized (NFC, lowercase...), pre-tokenized into pieces (regex split, byte-level...), each
// piece is encoded by the model (BPE or WordPiece), and a post-processor adds BOS/CLS/SEP when
// asked. Ids are identical to the reference implementations (see docs/tokenizers.md for the
// parity tests and the few documented differences).
//
// Input need not be valid UTF-8. Byte-level tokenizers encode invalid bytes byte-exactly, so
// decode(encode(x)) == x for every byte string x; byte-fallback BPE encodes them as <0xNN>
// tokens; WordPiece maps a word containing them to the unknown token. decode() never replaces
// bytes by U+FFFD: it returns exactly the bytes the tokens stand for.
//
// A Tokenizer is immutable after loading; copies share the loaded data, and every const method
// may be called from many threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cornerstone::tokenize {

// Well-known roles of special tokens.
enum class SpecialRole { Bos, Eos, Pad, Unk, Cls, Sep, Mask };

class Tokenizer {
 public:
  // `path` is a tokenizer.json file; a folder holding tokenizer.json, or GPT-2's encoder.json +
  // vocab.bpe (also named vocab.json + merges.txt), or BERT's vocab.txt; or one of those files. A tokenizer_config.json beside
  // the file, when present, names the special tokens (bos_token, eos_token, ...).
  // Throws IOError (cannot read), FormatError (malformed: the message names the JSON field, e.g.
  // "model.merges[12]"), UnsupportedError (a component Cornerstone does not implement).
  static Tokenizer load(const std::string& path);
  // Parses tokenizer.json text.
  static Tokenizer from_json(std::string_view json);

  // Token ids of `text`. `add_special` applies the post-processor (BOS, CLS/SEP...).
  std::vector<int32_t> encode(std::string_view text, bool add_special = false) const;
  // Text of `ids`; `skip_special` leaves out special added tokens. Throws ValueError for an id
  // outside [0, vocab_size()).
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;

  // One past the largest id, added tokens included: the number of rows an embedding table needs.
  int64_t vocab_size() const;
  std::optional<int32_t> token_to_id(std::string_view token) const;
  // The token's spelling in the vocabulary ("Ġworld", "##ing"); empty for an unused id.
  std::string id_to_token(int32_t id) const;
  bool is_special(int32_t id) const;

  // Well-known special tokens, when the tokenizer has them: from tokenizer_config.json when it
  // was loaded beside the file, otherwise recognised by their usual spellings ("<s>", "</s>",
  // "<|endoftext|>", "[CLS]", ...).
  std::optional<int32_t> special_id(SpecialRole role) const;
  std::optional<int32_t> bos_id() const { return special_id(SpecialRole::Bos); }
  std::optional<int32_t> eos_id() const { return special_id(SpecialRole::Eos); }
  std::optional<int32_t> pad_id() const { return special_id(SpecialRole::Pad); }
  std::optional<int32_t> unk_id() const { return special_id(SpecialRole::Unk); }
  std::optional<int32_t> cls_id() const { return special_id(SpecialRole::Cls); }
  std::optional<int32_t> sep_id() const { return special_id(SpecialRole::Sep); }
  std::optional<int32_t> mask_id() const { return special_id(SpecialRole::Mask); }

  // True when pieces are encoded as raw bytes (GPT-2-style ByteLevel pre-tokenizer).
  bool is_byte_level() const;

  // A tokenizer.json that the reference library (and this one) loads to the same tokenizer.
  std::string to_json() const;
  // Writes to_json() to `path` atomically (temporary file, fsync, rename).
  void save(const std::string& path) const;

  // The loaded components (src/tokenize/tokenizer_impl.h); built by the loaders and the trainer.
  struct Impl;
  explicit Tokenizer(std::shared_ptr<const Impl> impl);

 private:
  std::shared_ptr<const Impl> impl_;
};

}  // namespace cornerstone::tokenize

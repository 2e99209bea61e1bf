// The model: the stage that turns one pre-tokenized piece into token ids (internal).
//
// BPE (bpe_model.h) and WordPiece (wordpiece_model.h). A model owns the base vocabulary; added
// tokens live in AddedVocabulary and are looked up before the model.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenize/components.h"

namespace cornerstone::tokenize {

class Model {
 public:
  virtual ~Model() = default;

  // Appends the ids of `piece` to `out`. Thread-safe. In byte-level mode `piece` holds raw bytes;
  // otherwise it is text in the vocabulary's own spelling.
  virtual void encode(std::string_view piece, std::vector<int32_t>& out) const = 0;

  // Vocabulary access in the tokenizer.json spelling ("Ġthe", "##ing", "<0x0A>").
  virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
  virtual const std::string* id_to_token(int32_t id) const = 0;  // nullptr when unknown
  virtual int64_t vocab_size() const = 0;                        // largest id + 1
  virtual std::optional<std::string> unk_token() const = 0;

  virtual OrderedJson to_json() const = 0;

  // `byte_level`: the pre-tokenizer is ByteLevel, so pieces arrive as raw bytes.
  static std::unique_ptr<Model> from_json(const Json& json, const std::string& path, bool byte_level);
};

}  // namespace cornerstone::tokenize

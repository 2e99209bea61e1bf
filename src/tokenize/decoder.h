// Decoders: turn a sequence of token strings back into text (internal).
//
// Supported tokenizer.json types: ByteLevel, Metaspace, WordPiece, BPEDecoder, Replace,
// ByteFallback, Fuse, Strip, Sequence. Like the reference, a decoder works on the list of token
// strings ("decode chain") and the results are concatenated. Unlike the reference, bytes that do
// not form valid UTF-8 are returned as they are instead of being replaced by U+FFFD, so that a
// byte-level tokenizer decodes any encoded input back to exactly its bytes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tokenize/components.h"

namespace cornerstone::tokenize {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
  virtual OrderedJson to_json() const = 0;

  static std::unique_ptr<Decoder> from_json(const Json& json, const std::string& path);
};

std::unique_ptr<Decoder> make_byte_level_decoder();
std::unique_ptr<Decoder> make_wordpiece_decoder(const std::string& prefix, bool cleanup);

}  // namespace cornerstone::tokenize

// Incremental decoding for streaming generation: feed ids one at a time, get back the text that
// became complete with each one.
//
//   StreamDecoder stream(tok);
//   for (int32_t id : generated) std::fputs(stream.push(id).c_str(), stdout);
//   std::fputs(stream.finish().c_str(), stdout);
//
// The concatenation of everything returned equals tok.decode(all ids). A piece is never half a
// UTF-8 character: bytes that may still become a character wait for the next id. Decoders that
// look at neighbouring tokens (Metaspace's leading space, WordPiece's "##") are handled by
// decoding a short window of recent ids and emitting only what is new.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cornerstone/tokenize/tokenizer.h"

namespace cornerstone::tokenize {

class StreamDecoder {
 public:
  explicit StreamDecoder(Tokenizer tokenizer, bool skip_special = false);

  // Adds one id; returns the text completed by it (often empty, e.g. inside a multi-byte emoji).
  std::string push(int32_t id);
  // Returns whatever is still held back (an incomplete UTF-8 tail) and resets the stream.
  std::string finish();

 private:
  std::string push_fresh();

  Tokenizer tokenizer_;
  bool skip_special_;
  std::vector<int32_t> ids_;  // recent ids: one id of context, then the ids not yet complete
  std::string emitted_;       // the part of decode(ids_) already handed out
};

}  // namespace cornerstone::tokenize

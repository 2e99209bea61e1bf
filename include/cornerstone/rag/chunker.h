// Splitting documents into the passages a retrieval index stores: windows of at most N tokens
// (of the embedding model's tokenizer) that overlap by about M tokens, cut at word boundaries so
// a passage never starts or ends inside a word. Offsets are byte offsets into the document, so a
// passage can be shown in place.
//
//   auto chunks = rag::chunk_text(text, tokenizer, {.tokens = 256, .overlap = 32});
//   // chunks[i].text == text.substr(chunks[i].begin, chunks[i].end - chunks[i].begin)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cornerstone/tokenize/tokenizer.h"

namespace cornerstone::rag {

struct ChunkOptions {
  int64_t tokens = 256;  // at most this many tokens per chunk (a single longer word is cut alone)
  int64_t overlap = 32;  // about this many tokens shared by neighbouring chunks (< tokens)
};

struct Chunk {
  int64_t begin = 0, end = 0;  // byte offsets into the document
  int64_t tokens = 0;          // tokens in the window (words counted one by one)
  std::string text;
};

// Throws ValueError for tokens < 1 or overlap outside [0, tokens). An empty or all-blank text has
// no chunks.
std::vector<Chunk> chunk_text(std::string_view text, const tokenize::Tokenizer& tokenizer, const ChunkOptions& options);

}  // namespace cornerstone::rag

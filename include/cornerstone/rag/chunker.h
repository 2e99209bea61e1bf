// Splitting documents into the passages a retrieval index stores: windows of at most N tokens
// (of the embedding model's tokenizer) that overlap by about M tokens, cut at word boundaries so
// a passage never starts or ends inside a word. Offsets are byte offsets into the document, so a
// passage can be shown in place.
//
//   auto chunks = rag::chunk_text(text, tokenizer, {.tokens = 256, .overlap = 32});
//   // chunks[i].text == text.substr(chunks[i].begin, chunks[i].end - chunks[i].begin)
//
// With a separator (ChunkOptions::separator, e.g. "\n\n"), passages follow the document's own
// structure: whole paragraphs packed together up to the token budget.
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
  // Non-empty: cut at this separator first ("\n\n": paragraphs). Consecutive sections are packed
  // into chunks of at most `tokens` without overlap, a chunk never spans part of a section, and a
  // section longer than `tokens` is cut into overlapping windows of its own.
  std::string separator;
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

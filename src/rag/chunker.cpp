#include "cornerstone/rag/chunker.h"

#include <cctype>

#include "cornerstone/core/error.h"

namespace cornerstone::rag {

namespace {

struct Word {
  int64_t begin, end, tokens;
};

bool blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

}  // namespace

std::vector<Chunk> chunk_text(std::string_view text, const tokenize::Tokenizer& tokenizer, const ChunkOptions& o) {
  if (o.tokens < 1) throw ValueError("chunk size must be at least 1 token, got " + std::to_string(o.tokens));
  if (o.overlap < 0 || o.overlap >= o.tokens)
    throw ValueError("chunk overlap must be in [0, " + std::to_string(o.tokens) + ") tokens, got " + std::to_string(o.overlap));
  // Words with their token counts: each word is encoded with the blank before it (how it meets
  // the tokenizer inside running text; byte-level BPE merges the space into the word's first token).
  std::vector<Word> words;
  const int64_t n = static_cast<int64_t>(text.size());
  for (int64_t i = 0; i < n;) {
    while (i < n && blank(text[static_cast<size_t>(i)])) ++i;
    if (i == n) break;
    const int64_t b = i;
    while (i < n && !blank(text[static_cast<size_t>(i)])) ++i;
    const std::string piece = " " + std::string(text.substr(static_cast<size_t>(b), static_cast<size_t>(i - b)));
    words.push_back({b, i, std::max<int64_t>(1, static_cast<int64_t>(tokenizer.encode(piece).size()))});
  }
  std::vector<Chunk> out;
  size_t first = 0;
  while (first < words.size()) {
    // Grow the window while it fits (a lone word longer than the window is a chunk of its own).
    size_t last = first;
    int64_t count = words[first].tokens;
    while (last + 1 < words.size() && count + words[last + 1].tokens <= o.tokens) count += words[++last].tokens;
    Chunk c;
    c.begin = words[first].begin;
    c.end = words[last].end;
    c.tokens = count;
    c.text = std::string(text.substr(static_cast<size_t>(c.begin), static_cast<size_t>(c.end - c.begin)));
    out.push_back(std::move(c));
    if (last + 1 >= words.size()) break;
    // The next window starts so that about `overlap` tokens of this one are repeated, and always
    // moves forward by at least one word.
    size_t next = last + 1;
    int64_t shared = 0;
    while (next > first + 1 && shared + words[next - 1].tokens <= o.overlap) shared += words[--next].tokens;
    first = next;
  }
  return out;
}

}  // namespace cornerstone::rag

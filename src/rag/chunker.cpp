#include "cornerstone/rag/chunker.h"

#include <cctype>

#include "cornerstone/core/error.h"

namespace cornerstone::rag {

namespace {

struct Word {
  int64_t begin, end, tokens;
};

bool blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Words with their token counts, in text[from, to): each word is encoded with the blank before
// it (how it meets the tokenizer inside running text; byte-level BPE merges the space into the
// word's first token).
std::vector<Word> words_of(std::string_view text, int64_t from, int64_t to, const tokenize::Tokenizer& tokenizer) {
  std::vector<Word> words;
  const int64_t n = to;
  for (int64_t i = from; i < n;) {
    while (i < n && blank(text[static_cast<size_t>(i)])) ++i;
    if (i == n) break;
    const int64_t b = i;
    while (i < n && !blank(text[static_cast<size_t>(i)])) ++i;
    const std::string piece = " " + std::string(text.substr(static_cast<size_t>(b), static_cast<size_t>(i - b)));
    words.push_back({b, i, std::max<int64_t>(1, static_cast<int64_t>(tokenizer.encode(piece).size()))});
  }
  return words;
}

Chunk make_chunk(std::string_view text, int64_t begin, int64_t end, int64_t tokens) {
  Chunk c;
  c.begin = begin, c.end = end, c.tokens = tokens;
  c.text = std::string(text.substr(static_cast<size_t>(begin), static_cast<size_t>(end - begin)));
  return c;
}

// Overlapping windows over `words`, appended to `out`.
void windows(std::string_view text, const std::vector<Word>& words, const ChunkOptions& o, std::vector<Chunk>& out) {
  size_t first = 0;
  while (first < words.size()) {
    // Grow the window while it fits (a lone word longer than the window is a chunk of its own).
    size_t last = first;
    int64_t count = words[first].tokens;
    while (last + 1 < words.size() && count + words[last + 1].tokens <= o.tokens) count += words[++last].tokens;
    out.push_back(make_chunk(text, words[first].begin, words[last].end, count));
    if (last + 1 >= words.size()) break;
    // The next window starts so that about `overlap` tokens of this one are repeated, and always
    // moves forward by at least one word.
    size_t next = last + 1;
    int64_t shared = 0;
    while (next > first + 1 && shared + words[next - 1].tokens <= o.overlap) shared += words[--next].tokens;
    first = next;
  }
}

}  // namespace

std::vector<Chunk> chunk_text(std::string_view text, const tokenize::Tokenizer& tokenizer, const ChunkOptions& o) {
  if (o.tokens < 1) throw ValueError("chunk size must be at least 1 token, got " + std::to_string(o.tokens));
  if (o.overlap < 0 || o.overlap >= o.tokens)
    throw ValueError("chunk overlap must be in [0, " + std::to_string(o.tokens) + ") tokens, got " + std::to_string(o.overlap));
  std::vector<Chunk> out;
  const int64_t n = static_cast<int64_t>(text.size());
  if (o.separator.empty()) {
    windows(text, words_of(text, 0, n, tokenizer), o, out);
    return out;
  }
  // Sections between separators, each with its words; blank sections vanish.
  std::vector<std::vector<Word>> sections;
  for (int64_t at = 0; at <= n;) {
    const size_t hit = text.find(o.separator, static_cast<size_t>(at));
    const int64_t end = hit == std::string_view::npos ? n : static_cast<int64_t>(hit);
    auto w = words_of(text, at, end, tokenizer);
    if (!w.empty()) sections.push_back(std::move(w));
    if (hit == std::string_view::npos) break;
    at = end + static_cast<int64_t>(o.separator.size());
  }
  auto tokens_of = [](const std::vector<Word>& w) {
    int64_t t = 0;
    for (const Word& x : w) t += x.tokens;
    return t;
  };
  for (size_t i = 0; i < sections.size();) {
    const int64_t t = tokens_of(sections[i]);
    if (t > o.tokens) {  // a long section: windows of its own
      windows(text, sections[i++], o, out);
      continue;
    }
    // Whole sections packed while they fit; the chunk runs from the first's first word to the
    // last's last word (the separators between them included).
    size_t j = i + 1;
    int64_t count = t;
    while (j < sections.size() && count + tokens_of(sections[j]) <= o.tokens) count += tokens_of(sections[j++]);
    out.push_back(make_chunk(text, sections[i].front().begin, sections[j - 1].back().end, count));
    i = j;
  }
  return out;
}

}  // namespace cornerstone::rag

#include "tokenize/word_counter.h"

#include <omp.h>

#include <algorithm>
#include <unordered_map>

#include "tokenize/added_vocabulary.h"
#include "tokenize/pre_tokenizer.h"

namespace cornerstone::tokenize {

namespace {

struct Hash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using CountMap = std::unordered_map<std::string, int64_t, Hash, std::equal_to<>>;

constexpr size_t kChunk = size_t{1} << 20;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// Cuts `doc` into pieces of about kChunk bytes, each cut right after a newline that is followed
// by a non-space character (so no whitespace run or word straddles a cut).
void cut(std::string_view doc, std::vector<std::string_view>& chunks) {
  size_t begin = 0;
  while (doc.size() - begin > kChunk) {
    size_t at = doc.find('\n', begin + kChunk);
    while (at != std::string_view::npos && at + 1 < doc.size() && is_space(doc[at + 1])) at = doc.find('\n', at + 1);
    if (at == std::string_view::npos || at + 1 >= doc.size()) break;
    chunks.push_back(doc.substr(begin, at + 1 - begin));
    begin = at + 1;
  }
  chunks.push_back(doc.substr(begin));
}

void count_chunk(std::string_view chunk, const AddedVocabulary& added, const PreTokenizer& pre, CountMap& counts,
                 int64_t& total) {
  std::vector<AddedVocabulary::Segment> segments;
  added.split(chunk, /*normalized_tokens=*/false, segments);
  for (const auto& seg : segments) {
    if (seg.id >= 0) continue;
    PreTokenized pt(std::string(chunk.substr(seg.begin, seg.end - seg.begin)), seg.begin == 0);
    pre.pre_tokenize(pt);
    for (const auto& piece : pt.pieces) {
      const std::string_view w = pt.view(piece);
      auto it = counts.find(w);
      if (it == counts.end()) counts.emplace(std::string(w), 1);
      else ++it->second;
      ++total;
    }
  }
}

}  // namespace

WordCounts count_words(std::span<const std::string_view> documents, const AddedVocabulary& added,
                       const PreTokenizer& pre_tokenizer, int threads) {
  std::vector<std::string_view> chunks;
  for (std::string_view doc : documents) cut(doc, chunks);
  threads = std::max(1, threads);
  std::vector<CountMap> maps(threads);
  std::vector<int64_t> totals(threads, 0);
  const int64_t n = static_cast<int64_t>(chunks.size());
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t i = 0; i < n; ++i) {
    const int t = omp_get_thread_num();
    count_chunk(chunks[i], added, pre_tokenizer, maps[t], totals[t]);
  }
  CountMap& all = maps[0];
  for (int t = 1; t < threads; ++t)
    for (auto& [w, c] : maps[t]) all[w] += c;
  WordCounts result;
  for (int64_t t : totals) result.total += t;
  result.words.reserve(all.size());
  for (auto& [w, c] : all) result.words.emplace_back(w, c);
  // Sorted, so that training does not depend on hash order or thread timing.
  std::sort(result.words.begin(), result.words.end());
  return result;
}

}  // namespace cornerstone::tokenize

// Counting the distinct pre-tokenized words of a corpus on all threads (internal; the first
// half of BPE training).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cornerstone::tokenize {

class AddedVocabulary;
class PreTokenizer;

struct WordCounts {
  std::vector<std::pair<std::string, int64_t>> words;  // distinct pieces (sorted) and their counts
  int64_t total = 0;                                   // pieces counted
};

// Splits every document on the added tokens, pre-tokenizes the rest and counts the pieces.
// Documents are cut into chunks of about 1 MiB at line starts (where GPT-2-style splitting does
// not depend on what came before), and the chunks are shared among `threads` threads.
WordCounts count_words(std::span<const std::string_view> documents, const AddedVocabulary& added,
                       const PreTokenizer& pre_tokenizer, int threads);

}  // namespace cornerstone::tokenize

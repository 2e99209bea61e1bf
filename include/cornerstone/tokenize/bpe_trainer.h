// Byte-level BPE training: learn a GPT-2-style tokenizer from raw text.
//
//   BpeTrainerOptions opt;
//   opt.vocab_size = 32000;
//   opt.special_tokens = {"<|endoftext|>"};
//   Tokenizer tok = train_bpe({"corpus/a.txt", "corpus/b.txt"}, opt);
//   tok.save("out/tokenizer.json");
//
// The corpus is pre-tokenized exactly as the trained tokenizer will encode (special tokens split
// out, GPT-2's regex, raw bytes), the distinct words are counted on all threads, and merges are
// learnt greedily: the most frequent adjacent pair (ties: the pair of smaller ids) becomes a new
// token, until the vocabulary is full or no pair occurs min_frequency times. The vocabulary is
// the special tokens (ids 0..), the 256 byte tokens, then one token per merge.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "cornerstone/tokenize/tokenizer.h"

namespace cornerstone::tokenize {

struct BpeTrainerOptions {
  int64_t vocab_size = 32000;               // special tokens + 256 bytes + merges
  std::vector<std::string> special_tokens;  // get ids 0, 1, ... in this order
  int64_t min_frequency = 0;                // a pair seen fewer times is never merged (0: any pair)
  int threads = 0;                          // 0: cornerstone::num_threads()
};

// Statistics of the last training run, for reports.
struct BpeTrainerReport {
  int64_t bytes = 0;          // corpus size
  int64_t words = 0;          // pre-tokenized pieces
  int64_t distinct_words = 0;
  int64_t merges = 0;
  double count_seconds = 0, merge_seconds = 0;
};

// Trains on the files' contents (each file is one document). Throws IOError for an unreadable
// file and ValueError for options that cannot work (vocab_size too small for the byte alphabet).
Tokenizer train_bpe(const std::vector<std::string>& files, const BpeTrainerOptions& options,
                    BpeTrainerReport* report = nullptr);
// Trains on in-memory documents.
Tokenizer train_bpe_on_texts(std::span<const std::string> documents, const BpeTrainerOptions& options,
                             BpeTrainerReport* report = nullptr);

}  // namespace cornerstone::tokenize

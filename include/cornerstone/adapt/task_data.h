// Labelled data for adaptation, one JSON object per line:
//   classification  {"text": "...", "label": "spam"}            (label: a string or an integer)
//                   {"text": "...", "text_pair": "...", "label": "entailment"}   (a pair: encoders)
//   tagging         {"tokens": ["The", "cat"], "tags": ["DET", "NOUN"]}
//   retrieval pairs {"query": "...", "positive": "...", "negative": "..."}   (contrastive training;
//                   the hard negative is optional)
//   instruction     {"prompt": "...", "response": "..."}  (optional "system": "...")
//   verifiable      {"prompt": "What is 47 + 85?", "answer": "132"}  (grpo; other keys are ignored)
// Readers check every line and name the file, line and field that is wrong.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cornerstone::adapt {

// `line` is the example's line in its file (1-based), for errors found later (unknown labels).
struct ClassificationExample {
  std::string text;
  std::string label;
  std::optional<std::string> text_pair;
  int64_t line = 0;
};

struct TaggingExample {
  std::vector<std::string> tokens;
  std::vector<std::string> tags;
  int64_t line = 0;
};

struct RetrievalPair {
  std::string query;
  std::string positive;
  int64_t line = 0;
  std::string negative;  // a passage that looks relevant but is not ("": none)
};

struct InstructionExample {
  std::string prompt;
  std::string response;
  std::string system;  // empty: no system turn
  int64_t line = 0;
};

std::vector<ClassificationExample> read_classification(const std::string& jsonl);
std::vector<TaggingExample> read_tagging(const std::string& jsonl);
std::vector<InstructionExample> read_instructions(const std::string& jsonl);
struct AnswerExample {
  std::string prompt, answer;
  int64_t line = 0;
};
std::vector<AnswerExample> read_answers(const std::string& jsonl);
std::vector<RetrievalPair> read_retrieval_pairs(const std::string& jsonl);

// A cross-encoder's training data from retrieval triples: each {"query", "positive", "negative"?}
// line becomes classification pairs {"text": query, "text_pair": positive, "label": "relevant"}
// (and the negative's, "irrelevant"), written to `out`. Throws ValueError when no line has a
// negative (a classifier needs both labels).
void write_rerank_pairs(const std::string& triples, const std::string& out);
inline constexpr const char* kRelevant = "relevant";
inline constexpr const char* kIrrelevant = "irrelevant";

// The sorted distinct labels of a set (the label vocabulary of a head).
std::vector<std::string> label_set(const std::vector<ClassificationExample>& examples);
std::vector<std::string> tag_set(const std::vector<TaggingExample>& examples);
// A label set from a text file, one label per line (surrounding blanks and a trailing \r cut),
// sorted; empty lines are skipped. Duplicate labels, or fewer than two, are errors naming the file.
std::vector<std::string> read_label_list(const std::string& path);

}  // namespace cornerstone::adapt

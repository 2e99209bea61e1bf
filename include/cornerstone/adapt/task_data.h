// Labelled data for adaptation, one JSON object per line:
//   classification  {"text": "...", "label": "spam"}            (label: a string or an integer)
//   tagging         {"tokens": ["The", "cat"], "tags": ["DET", "NOUN"]}
//   instruction     {"prompt": "...", "response": "..."}
// Readers check every line and name the file, line and field that is wrong.
#pragma once

#include <string>
#include <vector>

namespace cornerstone::adapt {

struct ClassificationExample {
  std::string text;
  std::string label;
};

struct TaggingExample {
  std::vector<std::string> tokens;
  std::vector<std::string> tags;
};

struct InstructionExample {
  std::string prompt;
  std::string response;
};

std::vector<ClassificationExample> read_classification(const std::string& jsonl);
std::vector<TaggingExample> read_tagging(const std::string& jsonl);
std::vector<InstructionExample> read_instructions(const std::string& jsonl);

// The sorted distinct labels of a set (the label vocabulary of a head).
std::vector<std::string> label_set(const std::vector<ClassificationExample>& examples);
std::vector<std::string> tag_set(const std::vector<TaggingExample>& examples);

}  // namespace cornerstone::adapt

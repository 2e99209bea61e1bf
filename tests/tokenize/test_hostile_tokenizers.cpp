// Hostile tokenizer files: vocabulary ids beyond int32 and long words that used to take
// quadratic (or cubic) time.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "cornerstone/core/error.h"
#include "cornerstone/tokenize/tokenizer.h"

using cornerstone::FormatError;
using cornerstone::tokenize::Tokenizer;
namespace fs = std::filesystem;

namespace {
fs::path gpt2_folder(const std::string& name, const std::string& encoder_json) {
  const fs::path d = fs::temp_directory_path() / ("cs_hostile_tok_" + name + "_" + std::to_string(::getpid()));
  fs::create_directories(d);
  std::ofstream(d / "encoder.json") << encoder_json;
  std::ofstream(d / "vocab.bpe") << "#version: 0.2\n";
  return d;
}
}  // namespace

// 4294967295 cast to int32 is -1, which then indexed the id table at -1 (a write before the
// vector's start; ASan: heap-buffer-overflow).
TEST(HostileTokenizers, Gpt2IdBeyondInt32IsRefused) {
  const fs::path d = gpt2_folder("id", R"({"a": 0, "b": 4294967295})");
  try {
    Tokenizer::load(d.string());
    ADD_FAILURE() << "encoder.json with id 2^32 - 1 loaded";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("entry 'b': expected an integer id in [0, 2^31), got 4294967295"), std::string::npos)
        << e.what();
  }
  fs::remove_all(d);
}

TEST(HostileTokenizers, TokenizerJsonIdBeyondInt32IsRefused) {
  try {
    Tokenizer::from_json(R"({"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "b": 2147483648}, "unk_token": "[UNK]"}})");
    ADD_FAILURE() << "a vocabulary id of 2^31 loaded";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("model.vocab.b: token id 2147483648 is out of range"), std::string::npos) << e.what();
  }
}

// WordPiece with max_input_chars_per_word raised: a 200k-character word tried every candidate
// from the word's end down, O(n^2) lookups of O(n)-byte strings (hours). Candidates now start at
// the longest vocabulary entry.
TEST(HostileTokenizers, LongWordPieceWordIsLinear) {
  const Tokenizer tok = Tokenizer::from_json(R"({
    "normalizer": null, "pre_tokenizer": {"type": "WhitespaceSplit"}, "post_processor": null, "decoder": null,
    "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
              "max_input_chars_per_word": 1000000000, "vocab": {"[UNK]": 0, "a": 1, "##a": 2, "##aa": 3}}})");
  const std::string word(200000, 'a');
  const auto start = std::chrono::steady_clock::now();
  const auto ids = tok.encode(word);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(ids.size(), 100001u);  // "a", then "##aa" x 99999, then "##a"
  EXPECT_EQ(ids.front(), 1);
  EXPECT_EQ(ids[1], 3);
  EXPECT_EQ(ids.back(), 2);
  EXPECT_LT(seconds, 5.0) << "a 200k-character word took " << seconds << " s";
}

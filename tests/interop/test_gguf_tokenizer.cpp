// The tokenizer inside GGUF: llama.cpp's tokenizer.ggml.* keys for byte-level BPE (a trained
// tokenizer, Qwen3's real one) and SentencePiece-style BPE (Llama 2's real one), and tokenizers
// rebuilt from those keys alone (as in files llama.cpp's converter writes) encoding exactly as the
// originals do.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cornerstone/core/error.h"
#include "cornerstone/io/gguf.h"
#include "cornerstone/interop/gguf_tokenizer.h"
#include "cli.h"
#include "interop_fixtures.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;
using interop::GGUFTokenType;
namespace fs = std::filesystem;

namespace {

class GGUFTokenizer : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = fresh_temp_dir("gguf_tokenizer"); }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes the tokenizer alone into a GGUF file and opens it.
  io::GGUFFile roundtrip(const tokenize::Tokenizer& tok, int64_t model_vocab, bool embed_json,
                         std::vector<std::string>* notes = nullptr) {
    io::GGUFWriter w;
    w.set("general.architecture", io::GGUFValue::string("llama"));
    auto n = interop::add_tokenizer_to_gguf(tok, model_vocab, w, {embed_json});
    if (notes) *notes = n;
    const std::string p = (fs::path(dir_) / "t.gguf").string();
    fs::remove(p);
    w.write(p);
    return io::GGUFFile::open(p);
  }
  std::string dir_;
};

std::vector<int32_t> types_of(const io::GGUFFile& f) {
  std::vector<int32_t> out;
  for (const auto& v : f.get("tokenizer.ggml.token_type").as_array(io::GGUFType::I32, "").items)
    out.push_back(std::get<int32_t>(v.variant()));
  return out;
}

// The rebuilt tokenizer encodes and decodes every text as the original does.
void expect_same_tokenizer(const tokenize::Tokenizer& a, const tokenize::Tokenizer& b, const std::vector<std::string>& texts) {
  for (const auto& t : texts) {
    for (bool special : {false, true}) {
      const auto ia = a.encode(t, special), ib = b.encode(t, special);
      EXPECT_EQ(ia, ib) << "'" << t << "' add_special=" << special;
      EXPECT_EQ(a.decode(ia), b.decode(ia)) << t;
    }
  }
}

tokenize::Tokenizer load_package_tokenizer(const std::string& dataset) {
  return tokenize::Tokenizer::load(fetch_dataset(dataset) + "/models/tokenizer.json");
}

std::vector<std::string> more_texts() {
  auto t = sample_texts();
  t.push_back("<|im_start|>user\nWhat's 12345 + 678?<|im_end|>\n<|im_start|>assistant\n");
  t.push_back("   \n\n  x  ");
  t.push_back("Supercalifragilisticexpialidocious antidisestablishmentarianism");
  return t;
}

}  // namespace

TEST_F(GGUFTokenizer, ByteLevelBpeIsWrittenAsGpt2WithMergesAndRolesAndPadding) {
  const auto& tok = tiny_tokenizer();
  const int64_t V = tok.vocab_size();
  std::vector<std::string> notes;
  const auto f = roundtrip(tok, V + 3, true, &notes);
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(f.get_string("tokenizer.ggml.pre"), "gpt-2");
  const auto tokens = f.get("tokenizer.ggml.tokens").as_strings("");
  ASSERT_EQ(static_cast<int64_t>(tokens.size()), V + 3);
  for (int32_t i = 0; i < V; ++i) EXPECT_EQ(tokens[i], tok.id_to_token(i)) << i;
  EXPECT_EQ(tokens[V], "[PAD" + std::to_string(V) + "]");
  const auto types = types_of(f);
  EXPECT_EQ(types[0], static_cast<int32_t>(GGUFTokenType::Control)) << "<|endoftext|>";
  EXPECT_EQ(types[100], static_cast<int32_t>(GGUFTokenType::Normal));
  EXPECT_EQ(types[V + 2], static_cast<int32_t>(GGUFTokenType::Unused));
  const auto merges = f.get("tokenizer.ggml.merges").as_strings("");
  const auto j = nlohmann::json::parse(tok.to_json());
  ASSERT_EQ(merges.size(), j["model"]["merges"].size());
  EXPECT_EQ(merges[0], j["model"]["merges"][0][0].get<std::string>() + " " + j["model"]["merges"][0][1].get<std::string>());
  EXPECT_EQ(f.get_uint("tokenizer.ggml.eos_token_id"), static_cast<uint64_t>(*tok.eos_id()));
  EXPECT_FALSE(f.get("tokenizer.ggml.add_bos_token").as_bool(""));
  EXPECT_EQ(f.get_string("tokenizer.huggingface.json"), tok.to_json());
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("3 embedding rows without a token"), std::string::npos);
  EXPECT_THROW(roundtrip(tok, V - 1, true), ValueError);
}

TEST_F(GGUFTokenizer, RebuiltByteLevelTokenizerEncodesLikeTheOriginal) {
  const auto& tok = tiny_tokenizer();
  const auto f = roundtrip(tok, tok.vocab_size() + 5, /*embed_json=*/false);
  EXPECT_FALSE(f.contains("tokenizer.huggingface.json"));
  const auto rebuilt = tokenize::Tokenizer::from_json(interop::tokenizer_json_from_gguf(f));
  EXPECT_EQ(rebuilt.vocab_size(), tok.vocab_size()) << "[PAD] rows are not tokens";
  expect_same_tokenizer(tok, rebuilt, more_texts());
  // With the JSON embedded, import takes it verbatim.
  EXPECT_EQ(interop::tokenizer_json_from_gguf(roundtrip(tok, tok.vocab_size(), true)), tok.to_json());
}

TEST_F(GGUFTokenizer, Qwen3TokenizerIsQwen2PreTokenizedAndRebuildsExactly) {
  const auto tok = load_package_tokenizer("qwen3-tokenizer");
  const auto f = roundtrip(tok, tok.vocab_size(), false);
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(f.get_string("tokenizer.ggml.pre"), "qwen2");
  const auto im_start = tok.token_to_id("<|im_start|>");
  ASSERT_TRUE(im_start.has_value());
  EXPECT_EQ(types_of(f)[static_cast<size_t>(*im_start)], static_cast<int32_t>(GGUFTokenType::Control));
  const auto rebuilt = tokenize::Tokenizer::from_json(interop::tokenizer_json_from_gguf(f));
  expect_same_tokenizer(tok, rebuilt, more_texts());
}

TEST_F(GGUFTokenizer, Llama2TokenizerIsSentencePieceStyleAndRebuildsFromScores) {
  const auto tok = load_package_tokenizer("llama2-tokenizer");
  const auto f = roundtrip(tok, tok.vocab_size(), false);
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "llama");
  const auto types = types_of(f);
  EXPECT_EQ(types[0], static_cast<int32_t>(GGUFTokenType::Control)) << "<unk> is an added special token";
  EXPECT_EQ(types[1], static_cast<int32_t>(GGUFTokenType::Control)) << "<s>";
  EXPECT_EQ(types[3], static_cast<int32_t>(GGUFTokenType::Byte)) << "<0x00>";
  EXPECT_EQ(types[3 + 255], static_cast<int32_t>(GGUFTokenType::Byte)) << "<0xFF>";
  EXPECT_EQ(types[300], static_cast<int32_t>(GGUFTokenType::Normal));
  EXPECT_EQ(f.get_uint("tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_EQ(f.get_uint("tokenizer.ggml.eos_token_id"), 2u);
  EXPECT_EQ(f.get_uint("tokenizer.ggml.unknown_token_id"), 0u);
  EXPECT_TRUE(f.get("tokenizer.ggml.add_bos_token").as_bool(""));
  EXPECT_FALSE(f.get("tokenizer.ggml.add_eos_token").as_bool(""));
  EXPECT_TRUE(f.get("tokenizer.ggml.add_space_prefix").as_bool(""));
  const auto scores = f.get("tokenizer.ggml.scores").as_array(io::GGUFType::F32, "").items;
  ASSERT_EQ(scores.size(), 32000u);
  // "▁t" is the first merge: the highest score of any merged token.
  const auto t_id = tok.token_to_id("\xe2\x96\x81t");
  ASSERT_TRUE(t_id.has_value());
  EXPECT_EQ(std::get<float>(scores[static_cast<size_t>(*t_id)].variant()), -0.0f);
  const auto rebuilt = tokenize::Tokenizer::from_json(interop::tokenizer_json_from_gguf(f));
  EXPECT_EQ(rebuilt.vocab_size(), tok.vocab_size());
  expect_same_tokenizer(tok, rebuilt, more_texts());
}

TEST_F(GGUFTokenizer, FilesWithoutARebuildableTokenizerAreNamed) {
  auto file = [&](const std::function<void(io::GGUFWriter&)>& fill) {
    io::GGUFWriter w;
    fill(w);
    const std::string p = (fs::path(dir_) / "bad.gguf").string();
    fs::remove(p);
    w.write(p);
    return io::GGUFFile::open(p);
  };
  auto expect = [](const io::GGUFFile& f, const std::string& what) {
    try {
      interop::tokenizer_json_from_gguf(f);
      ADD_FAILURE() << "no error for " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  using io::GGUFValue;
  EXPECT_EQ(interop::tokenizer_json_from_gguf(file([](io::GGUFWriter&) {})), "");
  EXPECT_EQ(interop::tokenizer_json_from_gguf(file([](io::GGUFWriter& w) { w.set("tokenizer.ggml.model", GGUFValue::string("no_vocab")); })), "");
  expect(file([](io::GGUFWriter& w) { w.set("tokenizer.ggml.model", GGUFValue::string("bert")); }),
         "metadata 'tokenizer.ggml.model' is 'bert', a tokenizer Cornerstone cannot rebuild");
  auto gpt2 = [](io::GGUFWriter& w) {
    w.set("tokenizer.ggml.model", GGUFValue::string("gpt2"));
    w.set("tokenizer.ggml.tokens", GGUFValue::strings({"a", "b", "ab"}));
    w.set("tokenizer.ggml.merges", GGUFValue::strings({"a b"}));
  };
  expect(file([&](io::GGUFWriter& w) { gpt2(w), w.set("tokenizer.ggml.pre", GGUFValue::string("deepseek-coder")); }),
         "metadata 'tokenizer.ggml.pre' is 'deepseek-coder', a pre-tokenizer Cornerstone cannot rebuild");
  expect(file([&](io::GGUFWriter& w) { gpt2(w), w.set("tokenizer.ggml.token_type", GGUFValue::i32s({1, 1})); }),
         "metadata 'tokenizer.ggml.token_type' has 2 entries for 3 tokens");
  expect(file([&](io::GGUFWriter& w) { gpt2(w), w.set("tokenizer.ggml.merges", GGUFValue::strings({"ab"})); }),
         "metadata 'tokenizer.ggml.merges'[0] = 'ab' is not two tokens separated by one space");
  expect(file([&](io::GGUFWriter& w) { gpt2(w), w.set("tokenizer.ggml.eos_token_id", GGUFValue::u32(7)); }),
         "metadata 'tokenizer.ggml.eos_token_id' = 7 is not a token id");
  expect(file([&](io::GGUFWriter& w) { w.set("tokenizer.ggml.model", GGUFValue::string("gpt2")); }),
         "missing metadata key 'tokenizer.ggml.tokens'");
  // A minimal valid one rebuilds.
  const auto t = tokenize::Tokenizer::from_json(interop::tokenizer_json_from_gguf(file(gpt2)));
  EXPECT_EQ(t.vocab_size(), 3);
}

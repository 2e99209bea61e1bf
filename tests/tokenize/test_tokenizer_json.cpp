// tokenizer.json: malformed and unsupported files give errors that name the field; the
// components behave as the reference library defines them (small hand-written tokenizers).
#include <gtest/gtest.h>

#include <string>

#include "cornerstone/core/error.h"
#include "cornerstone/tokenize/tokenizer.h"
#include "reference.h"

namespace {

using cornerstone::tokenize::Tokenizer;
using nlohmann::json;

// A WordPiece model over a few pieces: pre-tokenizer output is visible as whole-piece ids.
json wordpiece_tokenizer(const json& pre_tokenizer, const json& normalizer = nullptr) {
  json vocab = {{"[UNK]", 0}, {"a", 1},  {"-", 2},   {"b", 3},    {"a-", 4},     {"-b", 5},  {"##b", 6},
                {"##-", 7},   {"--", 8}, {"ab", 9},  {"hello", 10}, {"world", 11}, {"1", 12}, {"23", 13},
                {"2", 14},    {"3", 15}, {"##a", 16}, {"a--b", 17}, {"cafe", 18},   {"ﬁ", 19},  {"fi", 20}};
  return {{"version", "1.0"},
          {"added_tokens", json::array()},
          {"normalizer", normalizer},
          {"pre_tokenizer", pre_tokenizer},
          {"post_processor", nullptr},
          {"decoder", nullptr},
          {"model", {{"type", "WordPiece"}, {"unk_token", "[UNK]"}, {"continuing_subword_prefix", "##"}, {"vocab", vocab}}}};
}

std::vector<int32_t> ids(const json& tokenizer, const std::string& text) {
  return Tokenizer::from_json(tokenizer.dump()).encode(text);
}

json split(const std::string& pattern, const std::string& behavior, bool invert = false) {
  return {{"type", "Split"}, {"pattern", {{"String", pattern}}}, {"behavior", behavior}, {"invert", invert}};
}

using V = std::vector<int32_t>;

TEST(TokenizerJson, SplitBehaviours) {
  EXPECT_EQ(ids(wordpiece_tokenizer(split("-", "Isolated")), "a-b"), (V{1, 2, 3}));
  EXPECT_EQ(ids(wordpiece_tokenizer(split("-", "Removed")), "a-b"), (V{1, 3}));
  EXPECT_EQ(ids(wordpiece_tokenizer(split("-", "MergedWithPrevious")), "a-b"), (V{4, 3}));
  EXPECT_EQ(ids(wordpiece_tokenizer(split("-", "MergedWithNext")), "a-b"), (V{1, 5}));
  EXPECT_EQ(ids(wordpiece_tokenizer(split("-", "Contiguous")), "a--b"), (V{1, 8, 3}));
  EXPECT_EQ(ids(wordpiece_tokenizer(split("-", "Isolated")), "a--b"), (V{1, 2, 2, 3}));
  // invert: the matches are the pieces and what lies between them is the delimiter.
  EXPECT_EQ(ids(wordpiece_tokenizer(split("a", "Removed", true)), "a-a"), (V{1, 1}));
}

TEST(TokenizerJson, SplitRegexAndFixedPreTokenizers) {
  const json regex_split = {{"type", "Split"}, {"pattern", {{"Regex", "\\p{N}+"}}}, {"behavior", "Isolated"}};
  EXPECT_EQ(ids(wordpiece_tokenizer(regex_split), "a23b"), (V{1, 13, 3}));
  EXPECT_EQ(ids(wordpiece_tokenizer({{"type", "Whitespace"}}), "hello world-b"), (V{10, 11, 2, 3}));
  EXPECT_EQ(ids(wordpiece_tokenizer({{"type", "WhitespaceSplit"}}), " hello\t world "), (V{10, 11}));
  EXPECT_EQ(ids(wordpiece_tokenizer({{"type", "Digits"}, {"individual_digits", true}}), "123"), (V{12, 14, 15}));
  EXPECT_EQ(ids(wordpiece_tokenizer({{"type", "Digits"}, {"individual_digits", false}}), "a23"), (V{1, 13}));
  EXPECT_EQ(ids(wordpiece_tokenizer({{"type", "Punctuation"}}), "a--b"), (V{1, 2, 2, 3}));
  EXPECT_EQ(ids(wordpiece_tokenizer({{"type", "BertPreTokenizer"}}), " a-b  hello "), (V{1, 2, 3, 10}));
  const json seq = {{"type", "Sequence"},
                    {"pretokenizers", {{{"type", "WhitespaceSplit"}}, split("-", "MergedWithNext")}}};
  EXPECT_EQ(ids(wordpiece_tokenizer(seq), "a-b hello"), (V{1, 5, 10}));
}

TEST(TokenizerJson, Normalizers) {
  const json ws = {{"type", "WhitespaceSplit"}};
  EXPECT_EQ(ids(wordpiece_tokenizer(ws, {{"type", "Lowercase"}}), "HELLO World"), (V{10, 11}));
  EXPECT_EQ(ids(wordpiece_tokenizer(ws, {{"type", "NFKC"}}), "ﬁ"), (V{20}));
  EXPECT_EQ(ids(wordpiece_tokenizer(ws, {{"type", "NFC"}}), "ﬁ"), (V{19}));
  const json strip = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFD"}}, {{"type", "StripAccents"}}}}};
  EXPECT_EQ(ids(wordpiece_tokenizer(ws, strip), "café"), (V{18}));
  const json replace = {{"type", "Replace"}, {"pattern", {{"String", "x"}}}, {"content", "-"}};
  EXPECT_EQ(ids(wordpiece_tokenizer(split("-", "Isolated"), replace), "axb"), (V{1, 2, 3}));
  const json prepend = {{"type", "Prepend"}, {"prepend", "a"}};
  EXPECT_EQ(ids(wordpiece_tokenizer(ws, prepend), "b"), (V{9}));
  const json bert = {{"type", "BertNormalizer"}, {"lowercase", true}};
  EXPECT_EQ(ids(wordpiece_tokenizer(ws, bert), "CAFÉ\x01"), (V{18}));
}

TEST(TokenizerJson, AddedTokenOptions) {
  json t = wordpiece_tokenizer({{"type", "WhitespaceSplit"}});
  t["model"]["vocab"]["<x>"] = 30;
  t["model"]["vocab"]["<y>"] = 31;
  t["model"]["vocab"]["<w>"] = 32;
  t["added_tokens"] = {
      {{"id", 30}, {"content", "<x>"}, {"special", true}, {"lstrip", true}, {"rstrip", false}, {"normalized", false}},
      {{"id", 31}, {"content", "<y>"}, {"special", false}, {"rstrip", true}, {"normalized", false}},
      {{"id", 32}, {"content", "<w>"}, {"special", true}, {"single_word", true}, {"normalized", false}}};
  const Tokenizer tok = Tokenizer::from_json(t.dump());
  EXPECT_EQ(tok.encode("a <x>b"), (V{1, 30, 3}));
  EXPECT_EQ(tok.encode("a<y>  b"), (V{1, 31, 3}));
  EXPECT_EQ(tok.encode("a <w> b"), (V{1, 32, 3}));
  EXPECT_EQ(tok.encode("a<w>b"), (V{0}));  // single_word: glued to word characters, so not matched
  EXPECT_TRUE(tok.is_special(30));
  EXPECT_FALSE(tok.is_special(31));
  EXPECT_EQ(tok.decode(V{1, 30, 3}, /*skip_special=*/true), "a b");
}

TEST(TokenizerJson, MetaspaceSplitsWords) {
  json t = wordpiece_tokenizer({{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "always"}});
  t["model"]["vocab"]["▁hello"] = 40;
  t["model"]["vocab"]["▁world"] = 41;
  EXPECT_EQ(ids(t, "hello world"), (V{40, 41}));
}

json bpe_model(const json& vocab, const json& merges) {
  return {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}};
}

TEST(TokenizerJson, BpeIgnoreMergesAndPairMerges) {
  const json vocab = {{"a", 0}, {"b", 1}, {"c", 2}, {"bc", 3}, {"abc", 4}};
  json t = {{"model", bpe_model(vocab, json::array({json::array({"b", "c"})}))}};
  EXPECT_EQ(Tokenizer::from_json(t.dump()).encode("abc"), (V{0, 3}));
  t["model"]["ignore_merges"] = true;
  EXPECT_EQ(Tokenizer::from_json(t.dump()).encode("abc"), (V{4}));
  EXPECT_EQ(Tokenizer::from_json(t.dump()).encode("bcb"), (V{3, 1}));
}

TEST(TokenizerJson, BpeUnknownsByteFallbackAndAffixes) {
  const json vocab = {{"<unk>", 0}, {"a", 1}, {"<0xC3>", 2}, {"<0xA9>", 3}, {"b", 4}};
  json t = {{"model", bpe_model(vocab, json::array())}};
  t["model"]["unk_token"] = "<unk>";
  EXPECT_EQ(Tokenizer::from_json(t.dump()).encode("axxb"), (V{1, 0, 0, 4}));
  t["model"]["fuse_unk"] = true;
  EXPECT_EQ(Tokenizer::from_json(t.dump()).encode("axxb"), (V{1, 0, 4}));
  t["model"]["byte_fallback"] = true;
  EXPECT_EQ(Tokenizer::from_json(t.dump()).encode("aéb"), (V{1, 2, 3, 4}));
  EXPECT_EQ(Tokenizer::from_json(t.dump()).encode("a\xff"), (V{1, 0}));  // no <0xFF> token: unknown
  t["model"].erase("unk_token");
  EXPECT_EQ(Tokenizer::from_json(t.dump()).encode("axb"), (V{1, 4}));  // no unknown token: dropped
  // Continuing-subword prefix and end-of-word suffix take part in the symbol spellings.
  const json affix_vocab = {{"a", 0}, {"##b", 1}, {"##c</w>", 2}, {"a##b", 3}, {"ab", 4}, {"abc</w>", 5}};
  json u = {{"model", bpe_model(affix_vocab, json::array({"a ##b", "ab ##c</w>"}))}};
  u["model"]["continuing_subword_prefix"] = "##";
  u["model"]["end_of_word_suffix"] = "</w>";
  EXPECT_EQ(Tokenizer::from_json(u.dump()).encode("abc"), (V{5}));
}

TEST(TokenizerJson, Decoders) {
  json t = {{"model", bpe_model({{"\u2581hello", 0}, {"\u2581world", 1}, {"wor", 2}, {"ld</w>", 3}}, json::array())}};
  t["decoder"] = {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "always"}};
  EXPECT_EQ(Tokenizer::from_json(t.dump()).decode(V{0, 1}), "hello world");
  t["decoder"] = {{"type", "BPEDecoder"}, {"suffix", "</w>"}};
  EXPECT_EQ(Tokenizer::from_json(t.dump()).decode(V{2, 3, 2, 3}), "world world");
  t["decoder"] = {{"type", "Sequence"},
                  {"decoders", {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", "_"}},
                                {{"type", "Fuse"}},
                                {{"type", "Strip"}, {"content", "_"}, {"start", 1}, {"stop", 0}}}}};
  EXPECT_EQ(Tokenizer::from_json(t.dump()).decode(V{0, 1}), "hello_world");
  t["decoder"] = nullptr;  // no decoder: tokens joined by spaces, as in the reference
  EXPECT_EQ(Tokenizer::from_json(t.dump()).decode(V{2, 3}), "wor ld</w>");
}

TEST(TokenizerJson, TemplatePostProcessor) {
  json t = {{"model", bpe_model({{"<s>", 0}, {"</s>", 1}, {"a", 2}}, json::array())}};
  t["added_tokens"] = {{{"id", 0}, {"content", "<s>"}, {"special", true}},
                       {{"id", 1}, {"content", "</s>"}, {"special", true}}};
  t["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                     {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                     {{"SpecialToken", {{"id", "</s>"}, {"type_id", 0}}}}}},
                         {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {0}}, {"tokens", {"<s>"}}}},
                                             {"</s>", {{"id", "</s>"}, {"ids", {1}}, {"tokens", {"</s>"}}}}}}};
  const Tokenizer tok = Tokenizer::from_json(t.dump());
  EXPECT_EQ(tok.encode("aa", true), (V{0, 2, 2, 1}));
  EXPECT_EQ(tok.encode("aa", false), (V{2, 2}));
  EXPECT_EQ(tok.bos_id(), 0);
  EXPECT_EQ(tok.eos_id(), 1);
  // Round trip through our writer.
  EXPECT_EQ(Tokenizer::from_json(tok.to_json()).encode("aa", true), (V{0, 2, 2, 1}));
  t["post_processor"]["single"][0]["SpecialToken"]["id"] = "<bos>";
  EXPECT_THROW(Tokenizer::from_json(t.dump()), cornerstone::FormatError);
}

// ---- errors -------------------------------------------------------------------------------

template <class E>
std::string error_of(const std::string& json_text) {
  try {
    Tokenizer::from_json(json_text);
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("wrong exception type: ") + e.what();
  }
  return "no error";
}

json bpe_tokenizer() {
  return {{"model",
           {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}}}, {"merges", {"a b"}}}}};
}

TEST(TokenizerJsonErrors, NotJson) {
  EXPECT_NE(error_of<cornerstone::FormatError>("{\"model\": ").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of<cornerstone::FormatError>("").find("not valid JSON"), std::string::npos);
}

TEST(TokenizerJsonErrors, NamesTheField) {
  EXPECT_EQ(error_of<cornerstone::FormatError>("{}"), "tokenizer.json: (root): missing required field 'model'");
  EXPECT_EQ(error_of<cornerstone::FormatError>("[1, 2]"), "tokenizer.json: (root): expected an object, got array");
  json t = bpe_tokenizer();
  t["model"]["vocab"] = json::array();
  EXPECT_EQ(error_of<cornerstone::FormatError>(t.dump()), "tokenizer.json: model.vocab: expected an object, got array");
  t = bpe_tokenizer();
  t["model"]["vocab"]["b"] = "one";
  EXPECT_EQ(error_of<cornerstone::FormatError>(t.dump()), "tokenizer.json: model.vocab.b: expected an integer, got string");
  t = bpe_tokenizer();
  t["model"]["merges"] = {"a b", 12};
  EXPECT_NE(error_of<cornerstone::FormatError>(t.dump()).find("model.merges[1]: expected a merge"), std::string::npos);
  t["model"]["merges"] = {"ab"};
  EXPECT_NE(error_of<cornerstone::FormatError>(t.dump()).find("model.merges[0]: expected \"left right\""),
            std::string::npos);
  t["model"]["merges"] = json::array({json::array({"a", "c"})});
  EXPECT_NE(error_of<cornerstone::FormatError>(t.dump()).find("model.merges[0]: token 'c' is not in model.vocab"),
            std::string::npos);
  t["model"]["merges"] = {"b a"};
  EXPECT_NE(error_of<cornerstone::FormatError>(t.dump()).find("model.merges[0]: the merged token 'ba'"),
            std::string::npos);
  t = bpe_tokenizer();
  t["model"]["vocab"]["ab"] = 2000000000;
  EXPECT_NE(error_of<cornerstone::FormatError>(t.dump()).find("model.vocab: id 2000000000 is far beyond"),
            std::string::npos);
  t = bpe_tokenizer();
  t["added_tokens"] = {{{"id", -3}, {"content", "<s>"}}};
  EXPECT_NE(error_of<cornerstone::FormatError>(t.dump()).find("added_tokens[0].id: token id -3 is out of range"),
            std::string::npos);
  t["added_tokens"] = {{{"id", 3}}};
  EXPECT_EQ(error_of<cornerstone::FormatError>(t.dump()),
            "tokenizer.json: added_tokens[0]: missing required field 'content'");
  t = bpe_tokenizer();
  t["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(\\p{L}"}}}, {"behavior", "Isolated"}};
  EXPECT_NE(error_of<cornerstone::FormatError>(t.dump()).find("pre_tokenizer.pattern.Regex: invalid regular expression"),
            std::string::npos);
  t["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "a"}}}, {"behavior", "Sideways"}};
  EXPECT_NE(error_of<cornerstone::FormatError>(t.dump()).find("pre_tokenizer.behavior: unknown split behavior 'Sideways'"),
            std::string::npos);
}

TEST(TokenizerJsonErrors, UnsupportedComponentsNameThemselves) {
  json t = bpe_tokenizer();
  t["normalizer"] = {{"type", "Precompiled"}, {"precompiled_charsmap", "AAAA"}};
  EXPECT_NE(error_of<cornerstone::UnsupportedError>(t.dump())
                .find("normalizer: normalizer type 'Precompiled' is not supported by Cornerstone"),
            std::string::npos);
  t = bpe_tokenizer();
  t["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {{{"type", "Whitespace"}}, {{"type", "UnicodeScripts"}}}}};
  EXPECT_NE(error_of<cornerstone::UnsupportedError>(t.dump()).find("pre_tokenizer.pretokenizers[1]: pre-tokenizer type "
                                                                   "'UnicodeScripts' is not supported"),
            std::string::npos);
  t = bpe_tokenizer();
  t["model"] = {{"type", "Unigram"}, {"vocab", json::array()}};
  EXPECT_NE(error_of<cornerstone::UnsupportedError>(t.dump()).find("model: model type 'Unigram' is not supported"),
            std::string::npos);
  t = bpe_tokenizer();
  t["decoder"] = {{"type", "CTC"}};
  EXPECT_NE(error_of<cornerstone::UnsupportedError>(t.dump()).find("decoder: decoder type 'CTC'"), std::string::npos);
  t = bpe_tokenizer();
  t["model"]["dropout"] = 0.1;
  EXPECT_NE(error_of<cornerstone::UnsupportedError>(t.dump()).find("model.dropout"), std::string::npos);
}

TEST(TokenizerJsonErrors, TruncatedRealFileIsAFormatError) {
  const std::string good = Tokenizer::load(cornerstone::testing::fetch("gpt2-tokenizer")).to_json();
  for (size_t cut : {size_t{0}, size_t{1}, good.size() / 3, good.size() - 2}) {
    EXPECT_THROW(Tokenizer::from_json(std::string_view(good).substr(0, cut)), cornerstone::FormatError) << cut;
  }
}

TEST(TokenizerJsonErrors, LoadAndDecodeErrors) {
  EXPECT_THROW(Tokenizer::load("/nonexistent/tokenizer.json"), cornerstone::IOError);
  cornerstone::testing::TempDir dir;
  EXPECT_THROW(Tokenizer::load(dir.path()), cornerstone::IOError);
  const Tokenizer tok = Tokenizer::from_json(bpe_tokenizer().dump());
  EXPECT_EQ(tok.encode("abba"), (V{2, 1, 0}));
  const std::vector<int32_t> bad = {0, 7};
  EXPECT_THROW(tok.decode(bad), cornerstone::ValueError);
  const std::vector<int32_t> negative = {-1};
  EXPECT_THROW(tok.decode(negative), cornerstone::ValueError);
}

}  // namespace

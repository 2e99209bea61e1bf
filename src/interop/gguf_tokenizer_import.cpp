// Rebuilding a tokenizer.json from llama.cpp's tokenizer.ggml.* keys, for GGUF files that do not
// carry tokenizer.huggingface.json (files made by llama.cpp's converter). The components are the
// ones Hugging Face uses for the same families:
//
//   "gpt2":  ByteLevel (or Split + ByteLevel for qwen2 / llama-bpe) pre-tokenizer, BPE with the
//            file's merges, ByteLevel decoder
//   "llama": Prepend("▁") + Replace(" ", "▁") normalizer, BPE with byte fallback whose merges are
//            extracted from the scores the way transformers converts a SentencePiece model
//            (every split of a token into two tokens, by the token's score), Metaspace decoding
#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <variant>

#include "cornerstone/core/error.h"
#include "cornerstone/interop/gguf_tokenizer.h"
#include "interop/gguf_pretokenizers.h"

namespace cornerstone::interop {

namespace {

using Json = nlohmann::ordered_json;

struct GgufVocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::optional<int32_t> bos, eos, unk;
  bool add_bos = false, add_eos = false;
};

std::optional<int32_t> token_id(const io::GGUFFile& f, const std::string& key, size_t n) {
  const io::GGUFValue* v = f.find(key);
  if (!v) return std::nullopt;
  const uint64_t id = v->as_uint(f.where(key));
  if (id >= n) throw FormatError(f.where(key) + " = " + std::to_string(id) + " is not a token id (the vocabulary has " + std::to_string(n) + ")");
  return static_cast<int32_t>(id);
}

GgufVocab read_vocab(const io::GGUFFile& f, bool default_add_bos) {
  GgufVocab v;
  v.tokens = f.get("tokenizer.ggml.tokens").as_strings(f.where("tokenizer.ggml.tokens"));
  const size_t n = v.tokens.size();
  v.types.assign(n, static_cast<int32_t>(GGUFTokenType::Normal));
  if (const io::GGUFValue* t = f.find("tokenizer.ggml.token_type")) {
    const auto& a = t->as_array(io::GGUFType::I32, f.where("tokenizer.ggml.token_type"));
    if (a.items.size() != n)
      throw FormatError(f.where("tokenizer.ggml.token_type") + " has " + std::to_string(a.items.size()) + " entries for " +
                        std::to_string(n) + " tokens");
    for (size_t i = 0; i < n; ++i) v.types[i] = std::get<int32_t>(a.items[i].variant());
  }
  v.bos = token_id(f, "tokenizer.ggml.bos_token_id", n);
  v.eos = token_id(f, "tokenizer.ggml.eos_token_id", n);
  v.unk = token_id(f, "tokenizer.ggml.unknown_token_id", n);
  v.add_bos = f.contains("tokenizer.ggml.add_bos_token") ? f.get("tokenizer.ggml.add_bos_token").as_bool(f.where("tokenizer.ggml.add_bos_token"))
                                                         : default_add_bos;
  v.add_eos = f.contains("tokenizer.ggml.add_eos_token") && f.get("tokenizer.ggml.add_eos_token").as_bool(f.where("tokenizer.ggml.add_eos_token"));
  return v;
}

bool is(const GgufVocab& v, size_t i, GGUFTokenType t) { return v.types[i] == static_cast<int32_t>(t); }

Json added_tokens(const GgufVocab& v) {
  Json out = Json::array();
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    const bool control = is(v, i, GGUFTokenType::Control) || is(v, i, GGUFTokenType::Unknown);
    if (!control && !is(v, i, GGUFTokenType::UserDefined)) continue;
    out.push_back({{"id", i}, {"content", v.tokens[i]}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                   {"normalized", !control}, {"special", control}});
  }
  return out;
}

Json vocab_object(const GgufVocab& v) {
  // Built in one go, in id order: inserting 100k+ keys one at a time into an ordered object is
  // quadratic (each insertion looks for the key).
  std::vector<std::pair<const std::string, Json>> entries;
  entries.reserve(v.tokens.size());
  for (size_t i = 0; i < v.tokens.size(); ++i)
    if (!is(v, i, GGUFTokenType::Unused)) entries.emplace_back(v.tokens[i], Json(i));
  return Json(Json::object_t(entries.begin(), entries.end()));
}

// TemplateProcessing adding BOS / EOS around the sequence, or `otherwise` when nothing is added.
Json post_processor(const GgufVocab& v, Json otherwise) {
  const bool bos = v.add_bos && v.bos, eos = v.add_eos && v.eos;
  if (!bos && !eos) return otherwise;
  Json single = Json::array(), pair = Json::array(), specials = Json::object();
  auto special = [&](int32_t id, int type_id) {
    const std::string& t = v.tokens[static_cast<size_t>(id)];
    specials[t] = {{"id", t}, {"ids", {id}}, {"tokens", {t}}};
    return Json{{"SpecialToken", {{"id", t}, {"type_id", type_id}}}};
  };
  if (bos) single.push_back(special(*v.bos, 0)), pair.push_back(special(*v.bos, 0));
  single.push_back({{"Sequence", {{"id", "A"}, {"type_id", 0}}}});
  pair.push_back({{"Sequence", {{"id", "A"}, {"type_id", 0}}}});
  if (eos) single.push_back(special(*v.eos, 0)), pair.push_back(special(*v.eos, 0));
  if (bos) pair.push_back(special(*v.bos, 1));
  pair.push_back({{"Sequence", {{"id", "B"}, {"type_id", 1}}}});
  if (eos) pair.push_back(special(*v.eos, 1));
  return {{"type", "TemplateProcessing"}, {"single", single}, {"pair", pair}, {"special_tokens", specials}};
}

Json byte_level(bool use_regex) {
  return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", use_regex}};
}

std::string gpt2_tokenizer(const io::GGUFFile& f, std::vector<std::string>* notes) {
  const GgufVocab v = read_vocab(f, /*default_add_bos=*/false);
  std::string pre = f.contains("tokenizer.ggml.pre") ? f.get_string("tokenizer.ggml.pre") : "default";
  if (pre == "default") {
    if (notes) notes->push_back("tokenizer.ggml.pre is '" + pre + "'; assuming GPT-2's pre-tokenizer regex");
    pre = "gpt-2";
  }
  Json pre_tokenizer;
  if (pre == "gpt-2") {
    pre_tokenizer = byte_level(true);
  } else {
    const std::string regex = gguf_pre::regex_of_name(pre);
    if (regex.empty())
      throw UnsupportedError(f.where("tokenizer.ggml.pre") + " is '" + pre +
                             "', a pre-tokenizer Cornerstone cannot rebuild (gpt-2, qwen2 and llama-bpe are known); "
                             "a file with tokenizer.huggingface.json imports any tokenizer");
    pre_tokenizer = {{"type", "Sequence"},
                     {"pretokenizers",
                      {{{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}},
                       byte_level(false)}}};
  }
  // Llama 3's tokenizer takes a whole word from the vocabulary before merging (llama.cpp sets the
  // same for this pre-tokenizer).
  const bool ignore_merges = pre == "llama-bpe" || pre == "llama3";
  Json merges = Json::array();
  const auto text = f.get("tokenizer.ggml.merges").as_strings(f.where("tokenizer.ggml.merges"));
  for (size_t i = 0; i < text.size(); ++i) {
    const size_t sp = text[i].find(' ');
    if (sp == std::string::npos || sp == 0 || sp + 1 == text[i].size() || text[i].find(' ', sp + 1) != std::string::npos)
      throw FormatError(f.where("tokenizer.ggml.merges") + "[" + std::to_string(i) + "] = '" + text[i] +
                        "' is not two tokens separated by one space");
    merges.push_back(Json::array({text[i].substr(0, sp), text[i].substr(sp + 1)}));
  }
  Json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = added_tokens(v);
  j["normalizer"] = pre == "qwen2" ? Json{{"type", "NFC"}} : Json(nullptr);
  j["pre_tokenizer"] = pre_tokenizer;
  j["post_processor"] = post_processor(v, byte_level(false));
  j["decoder"] = byte_level(false);
  j["model"] = {{"type", "BPE"},          {"dropout", nullptr},    {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr}, {"fuse_unk", false},
                {"byte_fallback", false}, {"ignore_merges", ignore_merges}, {"vocab", vocab_object(v)},
                {"merges", merges}};
  return j.dump(2, ' ', false, Json::error_handler_t::replace);
}

// A byte trie over a set of strings: walking a string through it from its first byte finds every
// member that is a prefix of it, in one pass. Edges live in one hash map keyed by (node, byte).
class ByteTrie {
 public:
  void insert(std::string_view s, int32_t value) {
    uint32_t node = 0;
    for (unsigned char c : s) {
      auto [it, added] = edges_.try_emplace(key(node, c), static_cast<uint32_t>(values_.size()));
      if (added) values_.push_back(-1);
      node = it->second;
    }
    if (values_[node] < 0) values_[node] = value;  // the first id of a duplicated token, as a map's emplace
  }
  // prefix_ids[k] = the member equal to s[0, k) (or -1), for k = 0..s.size(); `reverse` walks s
  // from its last byte (a trie of reversed strings), giving the member equal to the last k bytes.
  void walk(std::string_view s, bool reverse, std::vector<int32_t>& ids) const {
    ids.assign(s.size() + 1, -1);
    uint32_t node = 0;
    for (size_t k = 0; k < s.size(); ++k) {
      const auto it = edges_.find(key(node, static_cast<unsigned char>(reverse ? s[s.size() - 1 - k] : s[k])));
      if (it == edges_.end()) return;
      node = it->second;
      ids[k + 1] = values_[node];
    }
  }

 private:
  static uint64_t key(uint32_t node, unsigned char c) { return (static_cast<uint64_t>(node) << 8) | c; }
  std::unordered_map<uint64_t, uint32_t> edges_;
  std::vector<int32_t> values_{-1};  // per node; node 0 is the root
};

// transformers' SentencePieceExtractor: for every token, each split into two vocabulary tokens is
// a merge; a token's splits are ordered by (left id, right id), tokens by descending score.
// Tries find every split of a token in time linear in its length: looking up both halves of every
// cut in a hash map copied and hashed O(length^2) bytes (10^12 for one hostile 1-MB token).
Json merges_from_scores(const GgufVocab& v, const std::vector<float>& scores) {
  ByteTrie prefixes, suffixes;
  for (size_t i = 0; i < v.tokens.size(); ++i)
    if (is(v, i, GGUFTokenType::Normal)) {
      prefixes.insert(v.tokens[i], static_cast<int32_t>(i));
      std::string reversed(v.tokens[i].rbegin(), v.tokens[i].rend());
      suffixes.insert(reversed, static_cast<int32_t>(i));
    }
  struct Merge {
    int32_t left, right;
    float score;
  };
  std::vector<Merge> merges;
  std::vector<int32_t> left_of, right_of;  // left_of[cut]: id of t[0, cut); right_of[n]: id of the last n bytes
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    if (!is(v, i, GGUFTokenType::Normal)) continue;
    const std::string& t = v.tokens[i];
    prefixes.walk(t, false, left_of);
    suffixes.walk(t, true, right_of);
    std::vector<Merge> local;
    for (size_t cut = 1; cut < t.size(); ++cut) {
      if ((static_cast<unsigned char>(t[cut]) & 0xC0) == 0x80) continue;  // inside a UTF-8 character
      const int32_t l = left_of[cut], r = right_of[t.size() - cut];
      if (l >= 0 && r >= 0) local.push_back({l, r, scores[i]});
    }
    std::sort(local.begin(), local.end(), [](const Merge& a, const Merge& b) {
      return a.left != b.left ? a.left < b.left : a.right < b.right;
    });
    merges.insert(merges.end(), local.begin(), local.end());
  }
  std::stable_sort(merges.begin(), merges.end(), [](const Merge& a, const Merge& b) { return a.score > b.score; });
  Json out = Json::array();
  for (const Merge& m : merges)
    out.push_back(Json::array({v.tokens[static_cast<size_t>(m.left)], v.tokens[static_cast<size_t>(m.right)]}));
  return out;
}

std::string llama_tokenizer(const io::GGUFFile& f) {
  const GgufVocab v = read_vocab(f, /*default_add_bos=*/true);
  const auto& sa = f.get("tokenizer.ggml.scores").as_array(io::GGUFType::F32, f.where("tokenizer.ggml.scores"));
  if (sa.items.size() != v.tokens.size())
    throw FormatError(f.where("tokenizer.ggml.scores") + " has " + std::to_string(sa.items.size()) + " entries for " +
                      std::to_string(v.tokens.size()) + " tokens");
  std::vector<float> scores;
  for (const auto& s : sa.items) scores.push_back(std::get<float>(s.variant()));
  const bool prefix = !f.contains("tokenizer.ggml.add_space_prefix") ||
                      f.get("tokenizer.ggml.add_space_prefix").as_bool(f.where("tokenizer.ggml.add_space_prefix"));
  const std::string& sp = gguf_pre::kMetaspace;
  Json normalizers = Json::array();
  if (prefix) normalizers.push_back({{"type", "Prepend"}, {"prepend", sp}});
  normalizers.push_back({{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", sp}});
  Json decoders = Json::array({Json{{"type", "Replace"}, {"pattern", {{"String", sp}}}, {"content", " "}},
                               Json{{"type", "ByteFallback"}}, Json{{"type", "Fuse"}}});
  if (prefix) decoders.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
  Json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = added_tokens(v);
  j["normalizer"] = {{"type", "Sequence"}, {"normalizers", normalizers}};
  j["pre_tokenizer"] = nullptr;
  j["post_processor"] = post_processor(v, nullptr);
  j["decoder"] = {{"type", "Sequence"}, {"decoders", decoders}};
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", v.unk ? Json(v.tokens[static_cast<size_t>(*v.unk)]) : Json(nullptr)},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", true},
                {"byte_fallback", true},
                {"ignore_merges", false},
                {"vocab", vocab_object(v)},
                {"merges", merges_from_scores(v, scores)}};
  return j.dump(2, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

std::string tokenizer_json_from_gguf(const io::GGUFFile& f, std::vector<std::string>* notes) {
  if (const io::GGUFValue* hf = f.find("tokenizer.huggingface.json")) return hf->as_string(f.where("tokenizer.huggingface.json"));
  if (!f.contains("tokenizer.ggml.model")) return "";
  const std::string& model = f.get_string("tokenizer.ggml.model");
  if (model == "none" || model == "no_vocab") return "";
  if (model == "gpt2") return gpt2_tokenizer(f, notes);
  if (model == "llama") {
    if (notes) notes->push_back("the tokenizer was rebuilt from tokenizer.ggml.scores (SentencePiece-style merges)");
    return llama_tokenizer(f);
  }
  throw UnsupportedError(f.where("tokenizer.ggml.model") + " is '" + model +
                         "', a tokenizer Cornerstone cannot rebuild (gpt2 and llama are supported)");
}

}  // namespace cornerstone::interop

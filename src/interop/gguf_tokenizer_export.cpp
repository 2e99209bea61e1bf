#include "cornerstone/interop/gguf_tokenizer.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "cornerstone/core/error.h"
#include "interop/gguf_pretokenizers.h"

namespace cornerstone::interop {

namespace {

using io::GGUFValue;
using Json = nlohmann::json;  // read only; an ordered object would parse a 150k-token vocab in quadratic time

// The pre-tokenizer name of a byte-level tokenizer.json's pre_tokenizer, or "".
std::string detect_pre(const Json& pre) {
  if (!pre.is_object()) return "";
  const std::string type = pre.value("type", "");
  if (type == "ByteLevel") return pre.value("use_regex", true) ? "gpt-2" : "";
  if (type != "Sequence" || !pre.contains("pretokenizers") || pre["pretokenizers"].size() != 2) return "";
  const Json& split = pre["pretokenizers"][0];
  const Json& bl = pre["pretokenizers"][1];
  if (split.value("type", "") != "Split" || bl.value("type", "") != "ByteLevel" || bl.value("use_regex", true)) return "";
  if (!split.contains("pattern") || !split["pattern"].contains("Regex") || split.value("invert", false)) return "";
  if (!split["pattern"]["Regex"].is_string()) return "";
  return gguf_pre::name_of_regex(split["pattern"]["Regex"].get<std::string>());
}

bool is_byte_token(const std::string& t) {
  return t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && std::isxdigit(static_cast<unsigned char>(t[3])) &&
         std::isxdigit(static_cast<unsigned char>(t[4]));
}

// True when a SentencePiece-style tokenizer.json puts "▁" in front of the text.
bool adds_space_prefix(const Json& j) {
  std::function<bool(const Json&)> has_prepend = [&](const Json& n) {
    if (!n.is_object()) return false;
    if (n.value("type", "") == "Prepend") return n.value("prepend", "") == gguf_pre::kMetaspace;
    if (n.value("type", "") == "Sequence" && n.contains("normalizers"))
      for (const auto& c : n["normalizers"])
        if (has_prepend(c)) return true;
    return false;
  };
  if (has_prepend(j.at("normalizer"))) return true;
  const Json& pre = j.at("pre_tokenizer");
  return pre.is_object() && pre.value("type", "") == "Metaspace" &&
         (pre.value("add_prefix_space", false) || pre.value("prepend_scheme", "never") != "never");
}

std::vector<std::pair<std::string, std::string>> merges_of(const Json& model) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!model.contains("merges")) return out;
  for (const auto& m : model["merges"]) {
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ');
      out.emplace_back(s.substr(0, sp), sp == std::string::npos ? "" : s.substr(sp + 1));
    } else {
      out.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    }
  }
  return out;
}

// llama.cpp's tokenizer model for a tokenizer.json: "gpt2", "llama" or "no_vocab".
std::string ggml_model_of(const tokenize::Tokenizer& tok, const Json& model) {
  const std::string type = model.value("type", "");
  if (type == "BPE" && tok.is_byte_level()) return "gpt2";
  if (type == "BPE" && model.value("byte_fallback", false)) return "llama";
  return "no_vocab";
}

struct TokenTable {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  int64_t padded = 0;  // rows without a token
};

TokenTable token_table(const tokenize::Tokenizer& tok, const Json& j, const std::string& kind, int64_t model_vocab) {
  std::map<int32_t, bool> added;  // id -> special
  for (const auto& a : j.at("added_tokens")) added[a.at("id").get<int32_t>()] = a.value("special", false);
  const std::optional<int32_t> unk = tok.unk_id();
  const int64_t V = tok.vocab_size();
  TokenTable t;
  t.tokens.resize(static_cast<size_t>(model_vocab));
  t.types.resize(static_cast<size_t>(model_vocab));
  for (int64_t i = 0; i < model_vocab; ++i) {
    const int32_t id = static_cast<int32_t>(i);
    std::string text = i < V ? tok.id_to_token(id) : std::string();
    GGUFTokenType type = GGUFTokenType::Normal;
    if (text.empty()) {
      text = "[PAD" + std::to_string(i) + "]";
      type = GGUFTokenType::Unused;
      ++t.padded;
    } else if (auto a = added.find(id); a != added.end()) {
      type = a->second ? GGUFTokenType::Control : GGUFTokenType::UserDefined;
    } else if (unk && *unk == id) {
      type = GGUFTokenType::Unknown;
    } else if (kind == "llama" && is_byte_token(text)) {
      type = GGUFTokenType::Byte;
    }
    t.tokens[static_cast<size_t>(i)] = std::move(text);
    t.types[static_cast<size_t>(i)] = static_cast<int32_t>(type);
  }
  return t;
}

// "gpt2": the merges as "left right" strings.
GGUFValue merge_strings(const std::vector<std::pair<std::string, std::string>>& merges) {
  std::vector<std::string> m;
  m.reserve(merges.size());
  for (const auto& [a, b] : merges) {
    if (a.find(' ') != std::string::npos || b.find(' ') != std::string::npos)
      throw UnsupportedError("tokenizer merge '" + a + "' + '" + b + "' contains a space, which GGUF's \"a b\" merges cannot express");
    m.push_back(a + " " + b);
  }
  return GGUFValue::strings(m);
}

// "llama": score = -rank of the first merge producing the token; normal tokens no merge produces
// rank after every merge; other types score 0.
GGUFValue merge_scores(const std::vector<std::pair<std::string, std::string>>& merges, const TokenTable& t) {
  std::unordered_map<std::string, size_t> first_rank;
  for (size_t r = 0; r < merges.size(); ++r) first_rank.emplace(merges[r].first + merges[r].second, r);
  std::vector<float> scores(t.tokens.size(), 0.0f);
  for (size_t i = 0; i < t.tokens.size(); ++i) {
    if (t.types[i] != static_cast<int32_t>(GGUFTokenType::Normal)) continue;
    auto it = first_rank.find(t.tokens[i]);
    scores[i] = -static_cast<float>(it != first_rank.end() ? it->second : merges.size() + i);
  }
  return GGUFValue::f32s(scores);
}

// Special token ids, and what the post-processor adds around a text (encode with and without it).
void add_special_tokens(const tokenize::Tokenizer& tok, io::GGUFWriter& w) {
  auto id_key = [&](const char* key, std::optional<int32_t> id) {
    if (id) w.set(key, GGUFValue::u32(static_cast<uint32_t>(*id)));
  };
  id_key("tokenizer.ggml.bos_token_id", tok.bos_id());
  id_key("tokenizer.ggml.eos_token_id", tok.eos_id());
  id_key("tokenizer.ggml.unknown_token_id", tok.unk_id());
  id_key("tokenizer.ggml.padding_token_id", tok.pad_id());
  const auto plain = tok.encode("a"), with = tok.encode("a", /*add_special=*/true);
  const auto at = std::search(with.begin(), with.end(), plain.begin(), plain.end());
  const bool found = at != with.end();
  w.set("tokenizer.ggml.add_bos_token", GGUFValue::boolean(found && at != with.begin()));
  w.set("tokenizer.ggml.add_eos_token",
        GGUFValue::boolean(found && at + static_cast<std::ptrdiff_t>(plain.size()) != with.end()));
}

}  // namespace

std::vector<std::string> add_tokenizer_to_gguf(const tokenize::Tokenizer& tok, int64_t model_vocab, io::GGUFWriter& w,
                                               const GGUFTokenizerOptions& options) {
  if (tok.vocab_size() > model_vocab)
    throw ValueError("the tokenizer has " + std::to_string(tok.vocab_size()) + " tokens but the model's embedding only " +
                     std::to_string(model_vocab) + " rows; export the tokenizer the model was trained with");
  std::vector<std::string> notes;
  const std::string text = tok.to_json();
  const Json j = Json::parse(text);
  const Json& model = j.at("model");
  const std::string kind = ggml_model_of(tok, model);
  w.set("tokenizer.ggml.model", GGUFValue::string(kind));
  if (kind == "no_vocab") {
    notes.push_back("tokenizer model " + model.value("type", std::string("?")) +
                    " has no llama.cpp equivalent: tokenizer.ggml.model is 'no_vocab' (llama.cpp loads the weights but "
                    "cannot tokenize text); tokenizer.huggingface.json still holds it");
  } else {
    const TokenTable t = token_table(tok, j, kind, model_vocab);
    if (t.padded)
      notes.push_back(std::to_string(t.padded) + " embedding rows without a token are named [PAD<id>] (type UNUSED)");
    std::string pre = "default";
    if (kind == "gpt2") {
      pre = detect_pre(j.at("pre_tokenizer"));
      if (pre.empty()) {
        notes.push_back("the pre-tokenizer is not one llama.cpp knows by name; tokenizer.ggml.pre is 'default', and "
                        "llama.cpp may split text differently from Cornerstone");
        pre = "default";
      }
      if (model.value("ignore_merges", false) && pre != "llama-bpe")
        notes.push_back("the tokenizer looks whole words up before merging (ignore_merges), which llama.cpp only does "
                        "for the llama-bpe pre-tokenizer; llama.cpp may tokenize some words differently");
    }
    w.set("tokenizer.ggml.pre", GGUFValue::string(pre));
    w.set("tokenizer.ggml.tokens", GGUFValue::strings(t.tokens));
    w.set("tokenizer.ggml.token_type", GGUFValue::i32s(t.types));
    const auto merges = merges_of(model);
    if (kind == "gpt2") {
      w.set("tokenizer.ggml.merges", merge_strings(merges));
    } else {
      w.set("tokenizer.ggml.scores", merge_scores(merges, t));
      w.set("tokenizer.ggml.add_space_prefix", GGUFValue::boolean(adds_space_prefix(j)));
    }
  }
  add_special_tokens(tok, w);
  if (options.embed_tokenizer_json) w.set("tokenizer.huggingface.json", GGUFValue::string(text));
  return notes;
}

}  // namespace cornerstone::interop

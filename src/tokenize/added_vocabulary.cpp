#include "tokenize/added_vocabulary.h"

#include <algorithm>
#include <cstring>

#include "tokenize/normalizer.h"
#include "tokenize/unicode.h"

namespace cornerstone::tokenize {

OrderedJson AddedToken::to_json() const {
  return {{"id", id},          {"content", content},       {"single_word", single_word}, {"lstrip", lstrip},
          {"rstrip", rstrip},  {"normalized", normalized}, {"special", special}};
}

AddedToken AddedToken::from_json(const Json& json, const std::string& path) {
  AddedToken t;
  t.id = as_id(field(json, "id", path), child_path(path, "id"));
  t.content = get_string(json, "content", path);
  if (t.content.empty()) fail(child_path(path, "content"), "an added token cannot be empty");
  t.special = get_bool(json, "special", path, false);
  t.single_word = get_bool(json, "single_word", path, false);
  t.lstrip = get_bool(json, "lstrip", path, false);
  t.rstrip = get_bool(json, "rstrip", path, false);
  t.normalized = get_bool(json, "normalized", path, !t.special);
  return t;
}

AddedVocabulary::AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer)
    : tokens_(std::move(tokens)) {
  for (size_t i = 0; i < tokens_.size(); ++i) {
    by_id_[tokens_[i].id] = i;
    by_content_[tokens_[i].content] = i;
  }
  build(raw_, false, nullptr);
  build(normalized_, true, normalizer);
}

void AddedVocabulary::build(Matcher& m, bool normalized, const Normalizer* normalizer) {
  for (size_t i = 0; i < tokens_.size(); ++i) {
    if (tokens_[i].normalized != normalized) continue;
    std::string text = (normalized && normalizer) ? normalizer->normalize(tokens_[i].content) : tokens_[i].content;
    if (!text.empty()) m.patterns.push_back({std::move(text), i});
  }
  // Longest first, so that the first pattern that matches at a position is the longest one.
  std::stable_sort(m.patterns.begin(), m.patterns.end(),
                   [](const auto& a, const auto& b) { return a.text.size() > b.text.size(); });
  for (uint32_t p = 0; p < m.patterns.size(); ++p)
    m.by_first_byte[static_cast<unsigned char>(m.patterns[p].text[0])].push_back(p);
}

namespace {

bool is_word_char(char32_t cp) { return cp == '_' || unicode::is_alphanumeric(cp); }

// Byte offset where the character that ends at `at` (> 0) begins.
size_t char_start_before(std::string_view s, size_t at) {
  size_t b = at - 1;
  while (b > 0 && at - b < 4 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
  return b + unicode::decode(s, b).len == at ? b : at - 1;
}

char32_t char_before(std::string_view s, size_t at) {
  const size_t b = char_start_before(s, at);
  const auto c = unicode::decode(s, b);
  return b + c.len == at ? c.cp : unicode::kInvalid;
}

}  // namespace

void AddedVocabulary::split_with(const Matcher& m, std::string_view text, std::vector<Segment>& out) const {
  out.clear();
  size_t done = 0;  // end of the last emitted segment
  size_t i = 0;
  while (i < text.size()) {
    const auto& candidates = m.by_first_byte[static_cast<unsigned char>(text[i])];
    const Matcher::Pattern* hit = nullptr;
    for (uint32_t p : candidates) {
      const auto& pat = m.patterns[p];
      if (pat.text.size() <= text.size() - i && std::memcmp(text.data() + i, pat.text.data(), pat.text.size()) == 0) {
        hit = &pat;
        break;
      }
    }
    if (hit == nullptr) {
      ++i;
      continue;
    }
    const AddedToken& token = tokens_[hit->token];
    size_t start = i, stop = i + hit->text.size();
    i = stop;  // a rejected match is consumed all the same, as in the reference
    if (token.single_word) {
      const bool left_ok = start == 0 || !is_word_char(char_before(text, start));
      const bool right_ok = stop == text.size() || !is_word_char(unicode::decode(text, stop).cp);
      if (!left_ok || !right_ok) continue;
    }
    if (start < done) continue;
    if (token.lstrip) {
      while (start > done && unicode::is_white_space(char_before(text, start))) start = char_start_before(text, start);
    }
    if (token.rstrip) {
      while (stop < text.size()) {
        const auto c = unicode::decode(text, stop);
        if (!unicode::is_white_space(c.cp)) break;
        stop += c.len;
      }
      i = stop;
    }
    if (start > done) out.push_back({done, start, -1});
    out.push_back({start, stop, token.id});
    done = stop;
  }
  if (done < text.size()) out.push_back({done, text.size(), -1});
}

void AddedVocabulary::split(std::string_view text, bool normalized_tokens, std::vector<Segment>& out) const {
  const Matcher& m = normalized_tokens ? normalized_ : raw_;
  if (m.patterns.empty()) {
    out.clear();
    if (!text.empty()) out.push_back({0, text.size(), -1});
    return;
  }
  split_with(m, text, out);
}

const AddedToken* AddedVocabulary::find(std::string_view content) const {
  auto it = by_content_.find(std::string(content));
  return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::find(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

}  // namespace cornerstone::tokenize

#include "tokenize/normalizer.h"

#include <vector>

#include "tokenize/regex.h"
#include "tokenize/unicode.h"

namespace cornerstone::tokenize {

namespace {

using unicode::Form;

class UnicodeNormalizer final : public Normalizer {
 public:
  UnicodeNormalizer(Form form, const char* name) : form_(form), name_(name) {}
  std::string normalize(std::string_view text) const override { return unicode::normalize(text, form_); }
  OrderedJson to_json() const override { return {{"type", name_}}; }

 private:
  Form form_;
  const char* name_;
};

class Lowercase final : public Normalizer {
 public:
  std::string normalize(std::string_view text) const override { return unicode::lowercase(text); }
  OrderedJson to_json() const override { return {{"type", "Lowercase"}}; }
};

std::string strip_marks(std::string_view text, bool (*is_removed)(char32_t)) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto c = unicode::decode(text, i);
    if (!is_removed(c.cp)) out.append(text.substr(i, c.len));
    i += c.len;
  }
  return out;
}

// Removes combining marks (M*). Like the reference, it does not decompose first: pair it with NFD.
class StripAccents final : public Normalizer {
 public:
  std::string normalize(std::string_view text) const override {
    return unicode::is_ascii(text) ? std::string(text) : strip_marks(text, unicode::is_mark);
  }
  OrderedJson to_json() const override { return {{"type", "StripAccents"}}; }
};

class Strip final : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  std::string normalize(std::string_view text) const override {
    size_t b = 0, e = text.size();
    if (left_) {
      while (b < e) {
        const auto c = unicode::decode(text, b);
        if (!unicode::is_white_space(c.cp)) break;
        b += c.len;
      }
    }
    if (right_) {
      while (e > b) {
        size_t s = e - 1;  // step back to the start of the last character
        while (s > b && (static_cast<unsigned char>(text[s]) & 0xC0) == 0x80 && e - s < 4) --s;
        const auto c = unicode::decode(text, s);
        if (s + c.len != e || !unicode::is_white_space(c.cp)) break;
        e = s;
      }
    }
    return std::string(text.substr(b, e - b));
  }
  OrderedJson to_json() const override { return {{"type", "Strip"}, {"strip_left", left_}, {"strip_right", right_}}; }

 private:
  bool left_, right_;
};

class Replace final : public Normalizer {
 public:
  Replace(Regex pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  std::string normalize(std::string_view text) const override { return pattern_.replace_all(text, content_); }
  OrderedJson to_json() const override {
    return {{"type", "Replace"}, {"pattern", pattern_to_json(pattern_)}, {"content", content_}};
  }

 private:
  Regex pattern_;
  std::string content_;
};

class Prepend final : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string normalize(std::string_view text) const override {
    return text.empty() ? std::string() : prefix_ + std::string(text);
  }
  OrderedJson to_json() const override { return {{"type", "Prepend"}, {"prepend", prefix_}}; }

 private:
  std::string prefix_;
};

class BertNormalizer final : public Normalizer {
 public:
  BertNormalizer(bool clean_text, bool chinese, int strip_accents, bool lowercase)
      : clean_text_(clean_text), chinese_(chinese), strip_accents_(strip_accents), lowercase_(lowercase) {}

  std::string normalize(std::string_view text) const override {
    std::string out;
    out.reserve(text.size() + 8);
    for (size_t i = 0; i < text.size();) {
      const auto c = unicode::decode(text, i);
      const std::string_view ch = text.substr(i, c.len);
      i += c.len;
      if (clean_text_) {
        // Drop NUL, U+FFFD and control characters; map every whitespace to a plain space.
        if (c.cp == 0 || c.cp == 0xFFFD) continue;
        const bool space_like = c.cp == '\t' || c.cp == '\n' || c.cp == '\r' || unicode::is_white_space(c.cp);
        if (!space_like && unicode::is_other(c.cp)) continue;
        if (space_like) {
          out.push_back(' ');
          continue;
        }
      }
      if (chinese_ && unicode::is_cjk_ideograph(c.cp)) {
        out.push_back(' ');
        out.append(ch);
        out.push_back(' ');
      } else {
        out.append(ch);
      }
    }
    // strip_accents unset follows lowercase (the reference's rule).
    const bool strip = strip_accents_ == 1 || (strip_accents_ == -1 && lowercase_);
    // The reference order: accents first, then case.
    if (strip && !unicode::is_ascii(out))
      out = strip_marks(unicode::normalize(out, Form::NFD), unicode::is_nonspacing_mark);
    if (lowercase_) out = unicode::lowercase(out);
    return out;
  }

  OrderedJson to_json() const override {
    OrderedJson j = {{"type", "BertNormalizer"}, {"clean_text", clean_text_}, {"handle_chinese_chars", chinese_}};
    j["strip_accents"] = strip_accents_ < 0 ? OrderedJson(nullptr) : OrderedJson(strip_accents_ == 1);
    j["lowercase"] = lowercase_;
    return j;
  }

 private:
  bool clean_text_, chinese_;
  int strip_accents_;
  bool lowercase_;
};

class Sequence final : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  std::string normalize(std::string_view text) const override {
    std::string s(text);
    for (const auto& p : parts_) s = p->normalize(s);
    return s;
  }
  OrderedJson to_json() const override {
    OrderedJson list = OrderedJson::array();
    for (const auto& p : parts_) list.push_back(p->to_json());
    return {{"type", "Sequence"}, {"normalizers", list}};
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

std::unique_ptr<Normalizer> make_bert_normalizer(bool clean_text, bool handle_chinese_chars, int strip_accents,
                                                 bool lowercase) {
  return std::make_unique<BertNormalizer>(clean_text, handle_chinese_chars, strip_accents, lowercase);
}

std::unique_ptr<Normalizer> Normalizer::from_json(const Json& json, const std::string& path) {
  const std::string type = component_type(json, path);
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(Form::NFC, "NFC");
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(Form::NFD, "NFD");
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(Form::NFKC, "NFKC");
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(Form::NFKD, "NFKD");
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "StripAccents") return std::make_unique<StripAccents>();
  if (type == "Strip")
    return std::make_unique<Strip>(get_bool(json, "strip_left", path, true), get_bool(json, "strip_right", path, true));
  if (type == "Replace")
    return std::make_unique<Replace>(pattern_from_json(field(json, "pattern", path), child_path(path, "pattern")),
                                     get_string(json, "content", path));
  if (type == "Prepend") return std::make_unique<Prepend>(get_string(json, "prepend", path));
  if (type == "BertNormalizer") {
    int strip = -1;
    if (const Json* s = optional_field(json, "strip_accents", path))
      strip = as_bool(*s, child_path(path, "strip_accents")) ? 1 : 0;
    return make_bert_normalizer(get_bool(json, "clean_text", path, true),
                                get_bool(json, "handle_chinese_chars", path, true), strip,
                                get_bool(json, "lowercase", path, true));
  }
  if (type == "Sequence") {
    const std::string list_path = child_path(path, "normalizers");
    const Json& list = as_array(field(json, "normalizers", path), list_path);
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (size_t i = 0; i < list.size(); ++i) parts.push_back(from_json(list[i], index_path(list_path, i)));
    return std::make_unique<Sequence>(std::move(parts));
  }
  unsupported_component(path, "normalizer", type,
                        "NFC, NFD, NFKC, NFKD, Lowercase, StripAccents, Strip, Replace, Prepend, BertNormalizer, "
                        "Sequence");
}

}  // namespace cornerstone::tokenize

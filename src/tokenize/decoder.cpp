#include "tokenize/decoder.h"

#include "tokenize/byte_level.h"
#include "tokenize/regex.h"
#include "tokenize/unicode.h"

namespace cornerstone::tokenize {

namespace {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::string out;
  size_t last = 0;
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, last)) {
    out.append(s, last, at - last);
    out.append(to);
    last = at + from.size();
  }
  if (last == 0) return;
  out.append(s, last, std::string::npos);
  s = std::move(out);
}

class ByteLevel final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const auto& t : tokens) {
      // A token outside the byte alphabet (an added token such as "<｜User｜>") stands for itself.
      if (auto b = byte_level::decode(t)) bytes += *b;
      else bytes += t;
    }
    tokens.assign(1, std::move(bytes));
  }
  OrderedJson to_json() const override {
    return {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  }
};

class Metaspace final : public Decoder {
 public:
  Metaspace(std::string replacement, bool strip_first) : replacement_(std::move(replacement)), strip_first_(strip_first) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      replace_all(tokens[i], replacement_, " ");
      if (i == 0 && strip_first_ && !tokens[i].empty() && tokens[i][0] == ' ') tokens[i].erase(0, 1);
    }
  }
  OrderedJson to_json() const override {
    return {{"type", "Metaspace"},
            {"replacement", replacement_},
            {"prepend_scheme", strip_first_ ? "always" : "never"},
            {"split", true},
            {"add_prefix_space", strip_first_}};
  }

 private:
  std::string replacement_;
  bool strip_first_;
};

// The reference's clean-up of spaces before punctuation and in English contractions.
void cleanup(std::string& s) {
  static const std::pair<const char*, const char*> kRules[] = {
      {" .", "."},       {" ?", "?"},      {" !", "!"},           {" ,", ","},     {" ' ", "'"},   {" n't", "n't"},
      {" 'm", "'m"},     {" do not", " don't"}, {" 's", "'s"},   {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kRules) replace_all(s, from, to);
}

class WordPiece final : public Decoder {
 public:
  WordPiece(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (i != 0) {
        if (t.compare(0, prefix_.size(), prefix_) == 0) t.erase(0, prefix_.size());
        else t = std::string(1, ' ').append(t);
      }
      if (cleanup_) cleanup(t);
    }
  }
  OrderedJson to_json() const override { return {{"type", "WordPiece"}, {"prefix", prefix_}, {"cleanup", cleanup_}}; }

 private:
  std::string prefix_;
  bool cleanup_;
};

class BpeDecoder final : public Decoder {
 public:
  explicit BpeDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) replace_all(tokens[i], suffix_, i + 1 == tokens.size() ? "" : " ");
  }
  OrderedJson to_json() const override { return {{"type", "BPEDecoder"}, {"suffix", suffix_}}; }

 private:
  std::string suffix_;
};

class Replace final : public Decoder {
 public:
  Replace(Regex pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) t = pattern_.replace_all(t, content_);
  }
  OrderedJson to_json() const override {
    return {{"type", "Replace"}, {"pattern", pattern_to_json(pattern_)}, {"content", content_}};
  }

 private:
  Regex pattern_;
  std::string content_;
};

// Runs of "<0xNN>" tokens become the bytes they name.
class ByteFallback final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string bytes;
    bool in_bytes = false;
    for (auto& t : tokens) {
      int value = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') value = parse_hex(t[3], t[4]);
      if (value >= 0) {
        bytes.push_back(static_cast<char>(value));
        in_bytes = true;
        continue;
      }
      if (in_bytes) out.push_back(std::move(bytes)), bytes.clear(), in_bytes = false;
      out.push_back(std::move(t));
    }
    if (in_bytes) out.push_back(std::move(bytes));
    tokens = std::move(out);
  }
  OrderedJson to_json() const override { return {{"type", "ByteFallback"}}; }

 private:
  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  }
  static int parse_hex(char a, char b) {
    const int x = hex(a), y = hex(b);
    return x < 0 || y < 0 ? -1 : x * 16 + y;
  }
};

class Fuse final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
  OrderedJson to_json() const override { return {{"type", "Fuse"}}; }
};

class Strip final : public Decoder {
 public:
  Strip(std::string content, int64_t start, int64_t stop) : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      size_t b = 0, e = t.size();
      for (int64_t k = 0; k < start_ && b + content_.size() <= e && t.compare(b, content_.size(), content_) == 0; ++k)
        b += content_.size();
      for (int64_t k = 0; k < stop_ && e >= b + content_.size() &&
                          t.compare(e - content_.size(), content_.size(), content_) == 0;
           ++k)
        e -= content_.size();
      t = t.substr(b, e - b);
    }
  }
  OrderedJson to_json() const override {
    return {{"type", "Strip"}, {"content", content_}, {"start", start_}, {"stop", stop_}};
  }

 private:
  std::string content_;
  int64_t start_, stop_;
};

class Sequence final : public Decoder {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& p : parts_) p->decode_chain(tokens);
  }
  OrderedJson to_json() const override {
    OrderedJson list = OrderedJson::array();
    for (const auto& p : parts_) list.push_back(p->to_json());
    return {{"type", "Sequence"}, {"decoders", list}};
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

}  // namespace

std::unique_ptr<Decoder> make_byte_level_decoder() { return std::make_unique<ByteLevel>(); }
std::unique_ptr<Decoder> make_wordpiece_decoder(const std::string& prefix, bool cleanup) {
  return std::make_unique<WordPiece>(prefix, cleanup);
}

std::unique_ptr<Decoder> Decoder::from_json(const Json& json, const std::string& path) {
  const std::string type = component_type(json, path);
  if (type == "ByteLevel") return std::make_unique<ByteLevel>();
  if (type == "Metaspace") {
    std::string replacement = "\xE2\x96\x81";
    if (auto r = get_optional_string(json, "replacement", path)) replacement = *r;
    bool strip_first = get_bool(json, "add_prefix_space", path, true);
    if (auto s = get_optional_string(json, "prepend_scheme", path)) strip_first = *s != "never";
    return std::make_unique<Metaspace>(replacement, strip_first);
  }
  if (type == "WordPiece") {
    std::string prefix = "##";
    if (auto p = get_optional_string(json, "prefix", path)) prefix = *p;
    return std::make_unique<WordPiece>(prefix, get_bool(json, "cleanup", path, true));
  }
  if (type == "BPEDecoder") {
    std::string suffix = "</w>";
    if (auto s = get_optional_string(json, "suffix", path)) suffix = *s;
    return std::make_unique<BpeDecoder>(suffix);
  }
  if (type == "Replace")
    return std::make_unique<Replace>(pattern_from_json(field(json, "pattern", path), child_path(path, "pattern")),
                                     get_string(json, "content", path));
  if (type == "ByteFallback") return std::make_unique<ByteFallback>();
  if (type == "Fuse") return std::make_unique<Fuse>();
  if (type == "Strip") {
    const std::string content = get_string(json, "content", path);
    const Json* start = optional_field(json, "start", path);
    const Json* stop = optional_field(json, "stop", path);
    return std::make_unique<Strip>(content, start ? as_int(*start, child_path(path, "start")) : 0,
                                   stop ? as_int(*stop, child_path(path, "stop")) : 0);
  }
  if (type == "Sequence") {
    const std::string list_path = child_path(path, "decoders");
    const Json& list = as_array(field(json, "decoders", path), list_path);
    std::vector<std::unique_ptr<Decoder>> parts;
    for (size_t i = 0; i < list.size(); ++i) parts.push_back(from_json(list[i], index_path(list_path, i)));
    return std::make_unique<Sequence>(std::move(parts));
  }
  unsupported_component(path, "decoder", type,
                        "ByteLevel, Metaspace, WordPiece, BPEDecoder, Replace, ByteFallback, Fuse, Strip, Sequence");
}

}  // namespace cornerstone::tokenize

#include "tokenize/pre_tokenizer.h"

#include <algorithm>

#include "cornerstone/core/error.h"

#include "tokenize/regex.h"
#include "tokenize/unicode.h"

namespace cornerstone::tokenize {

PreTokenized::PreTokenized(std::string s, bool at_start) : text(std::move(s)) {
  if (!text.empty()) pieces.push_back({0, static_cast<uint32_t>(text.size()), at_start});
}

namespace {

// A stretch of one piece and whether the pattern matched it; a piece is covered by segments.
struct Segment {
  uint32_t begin, end;
  bool match;
};

// Reduces the segments of one piece to the ranges kept by `behavior` (the reference semantics).
void apply_behavior(const std::vector<Segment>& segs, SplitBehavior behavior, std::vector<Segment>& out) {
  out.clear();
  switch (behavior) {
    case SplitBehavior::Removed:
      for (const auto& s : segs)
        if (!s.match) out.push_back(s);
      break;
    case SplitBehavior::Isolated:
      out = segs;
      break;
    case SplitBehavior::MergedWithPrevious: {
      bool previous_match = false;
      for (const auto& s : segs) {
        if (s.match && !previous_match && !out.empty()) out.back().end = s.end;
        else out.push_back(s);
        previous_match = s.match;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool previous_match = false;
      for (size_t k = segs.size(); k-- > 0;) {
        const auto& s = segs[k];
        if (s.match && !previous_match && !out.empty()) out.back().begin = s.begin;
        else out.push_back(s);
        previous_match = s.match;
      }
      std::reverse(out.begin(), out.end());
      break;
    }
    case SplitBehavior::Contiguous: {
      bool previous_match = false;
      for (const auto& s : segs) {
        if (s.match == previous_match && !out.empty()) out.back().end = s.end;
        else out.push_back(s);
        previous_match = s.match;
      }
      break;
    }
  }
}

// Splits every piece: `find(view, segs)` appends the matched stretches (offsets relative to the
// piece, in order); the gaps between them are filled in here.
template <class Find>
void split_pieces(PreTokenized& pt, SplitBehavior behavior, bool invert, Find find) {
  std::vector<PreTokenized::Piece> result;
  result.reserve(pt.pieces.size() * 2);
  std::vector<Segment> matches, segs, kept;
  for (const auto& piece : pt.pieces) {
    const std::string_view v = pt.view(piece);
    matches.clear();
    find(v, matches);
    segs.clear();
    uint32_t prev = 0;
    for (const auto& m : matches) {
      if (m.begin > prev) segs.push_back({prev, m.begin, invert});
      segs.push_back({m.begin, m.end, !invert});
      prev = m.end;
    }
    if (prev < v.size()) segs.push_back({prev, static_cast<uint32_t>(v.size()), invert});
    apply_behavior(segs, behavior, kept);
    for (const auto& s : kept) {
      if (s.end == s.begin) continue;  // empty pieces are dropped, as in the reference
      result.push_back({piece.begin + s.begin, piece.begin + s.end, piece.at_start && s.begin == 0});
    }
  }
  pt.pieces = std::move(result);
}

void split_regex(PreTokenized& pt, const Regex& re, SplitBehavior behavior, bool invert) {
  split_pieces(pt, behavior, invert, [&](std::string_view v, std::vector<Segment>& out) {
    re.for_each_match(v, [&](size_t b, size_t e) {
      out.push_back({static_cast<uint32_t>(b), static_cast<uint32_t>(e), true});
    });
  });
}

// Each character for which pred(cp) holds is one match.
void split_chars(PreTokenized& pt, bool (*pred)(char32_t), SplitBehavior behavior) {
  split_pieces(pt, behavior, false, [&](std::string_view v, std::vector<Segment>& out) {
    for (size_t i = 0; i < v.size();) {
      const auto c = unicode::decode(v, i);
      if (pred(c.cp)) out.push_back({static_cast<uint32_t>(i), static_cast<uint32_t>(i + c.len), true});
      i += c.len;
    }
  });
}

// Rewrites every piece through fn(view, at_start) -> new text, keeping the piece structure.
template <class Fn>
void transform_pieces(PreTokenized& pt, Fn fn) {
  std::string text;
  text.reserve(pt.text.size() + pt.pieces.size());
  for (auto& piece : pt.pieces) {
    const std::string s = fn(pt.view(piece), piece.at_start);
    piece.begin = static_cast<uint32_t>(text.size());
    text += s;
    piece.end = static_cast<uint32_t>(text.size());
  }
  pt.text = std::move(text);
}

const char* behavior_name(SplitBehavior b) {
  switch (b) {
    case SplitBehavior::Removed: return "Removed";
    case SplitBehavior::Isolated: return "Isolated";
    case SplitBehavior::MergedWithPrevious: return "MergedWithPrevious";
    case SplitBehavior::MergedWithNext: return "MergedWithNext";
    case SplitBehavior::Contiguous: return "Contiguous";
  }
  return "Isolated";
}

SplitBehavior behavior_from_json(const Json& json, const std::string& path, SplitBehavior fallback) {
  const Json* v = optional_field(json, "behavior", path);
  if (!v) return fallback;
  const std::string p = child_path(path, "behavior");
  const std::string s = as_string(*v, p);
  for (auto b : {SplitBehavior::Removed, SplitBehavior::Isolated, SplitBehavior::MergedWithPrevious,
                 SplitBehavior::MergedWithNext, SplitBehavior::Contiguous})
    if (s == behavior_name(b)) return b;
  fail(p, "unknown split behavior '" + s +
              "' (expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)");
}

bool is_numeric(char32_t cp) { return unicode::is_numeric(cp); }
bool is_white_space(char32_t cp) { return unicode::is_white_space(cp); }
bool is_bert_punctuation(char32_t cp) { return unicode::is_bert_punctuation(cp); }

class ByteLevel final : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool trim_offsets, bool use_regex)
      : add_prefix_space_(add_prefix_space),
        trim_offsets_(trim_offsets),
        use_regex_(use_regex),
        re_(kGpt2Pattern, "pre_tokenizer (ByteLevel)") {}
  void pre_tokenize(PreTokenized& pt) const override {
    if (add_prefix_space_) {
      transform_pieces(pt, [](std::string_view v, bool) {
        std::string s;
        s.reserve(v.size() + 1);
        if (v.empty() || v[0] != ' ') s.push_back(' ');
        s.append(v);
        return s;
      });
    }
    if (use_regex_) split_regex(pt, re_, SplitBehavior::Isolated, false);
  }
  bool is_byte_level() const override { return true; }
  OrderedJson to_json() const override {
    return {{"type", "ByteLevel"},
            {"add_prefix_space", add_prefix_space_},
            {"trim_offsets", trim_offsets_},
            {"use_regex", use_regex_}};
  }

 private:
  bool add_prefix_space_, trim_offsets_, use_regex_;
  Regex re_;
};

class Split final : public PreTokenizer {
 public:
  Split(Regex re, SplitBehavior behavior, bool invert) : re_(std::move(re)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(PreTokenized& pt) const override { split_regex(pt, re_, behavior_, invert_); }
  OrderedJson to_json() const override {
    return {{"type", "Split"},
            {"pattern", pattern_to_json(re_)},
            {"behavior", behavior_name(behavior_)},
            {"invert", invert_}};
  }

 private:
  Regex re_;
  SplitBehavior behavior_;
  bool invert_;
};

enum class PrependScheme { Always, First, Never };

class Metaspace final : public PreTokenizer {
 public:
  Metaspace(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}
  void pre_tokenize(PreTokenized& pt) const override {
    transform_pieces(pt, [&](std::string_view v, bool at_start) {
      std::string s;
      s.reserve(v.size() + replacement_.size());
      for (char c : v) {
        if (c == ' ') s += replacement_;
        else s.push_back(c);
      }
      const bool starts = s.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts && (scheme_ == PrependScheme::Always || (scheme_ == PrependScheme::First && at_start)))
        s.insert(0, replacement_);
      return s;
    });
    if (split_) {
      split_pieces(pt, SplitBehavior::MergedWithNext, false, [&](std::string_view v, std::vector<Segment>& out) {
        for (size_t at = v.find(replacement_); at != std::string_view::npos;
             at = v.find(replacement_, at + replacement_.size()))
          out.push_back({static_cast<uint32_t>(at), static_cast<uint32_t>(at + replacement_.size()), true});
      });
    }
  }
  OrderedJson to_json() const override {
    const char* scheme = scheme_ == PrependScheme::Always ? "always" : scheme_ == PrependScheme::First ? "first" : "never";
    // add_prefix_space is the field's older spelling; written too so that older readers agree.
    return {{"type", "Metaspace"},
            {"replacement", replacement_},
            {"prepend_scheme", scheme},
            {"split", split_},
            {"add_prefix_space", scheme_ != PrependScheme::Never}};
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

// A pre-tokenizer defined by a fixed sequence of splits (Whitespace, WhitespaceSplit, BERT,
// Punctuation, Digits): the cases without configuration beyond their JSON echo.
class FixedSplit final : public PreTokenizer {
 public:
  using Apply = void (*)(PreTokenized&, SplitBehavior, const Regex*);
  FixedSplit(OrderedJson json, Apply apply, SplitBehavior behavior, std::unique_ptr<Regex> re = nullptr)
      : json_(std::move(json)), apply_(apply), behavior_(behavior), re_(std::move(re)) {}
  void pre_tokenize(PreTokenized& pt) const override { apply_(pt, behavior_, re_.get()); }
  OrderedJson to_json() const override { return json_; }

 private:
  OrderedJson json_;
  Apply apply_;
  SplitBehavior behavior_;
  std::unique_ptr<Regex> re_;
};

class Sequence final : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void pre_tokenize(PreTokenized& pt) const override {
    for (const auto& p : parts_) p->pre_tokenize(pt);
  }
  bool is_byte_level() const override { return !parts_.empty() && parts_.back()->is_byte_level(); }
  OrderedJson to_json() const override {
    OrderedJson list = OrderedJson::array();
    for (const auto& p : parts_) list.push_back(p->to_json());
    return {{"type", "Sequence"}, {"pretokenizers", list}};
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

void apply_whitespace(PreTokenized& pt, SplitBehavior, const Regex* re) {
  split_regex(pt, *re, SplitBehavior::Removed, /*invert=*/true);
}
void apply_whitespace_split(PreTokenized& pt, SplitBehavior, const Regex*) {
  split_chars(pt, is_white_space, SplitBehavior::Removed);
}
void apply_bert(PreTokenized& pt, SplitBehavior, const Regex*) {
  split_chars(pt, is_white_space, SplitBehavior::Removed);
  split_chars(pt, is_bert_punctuation, SplitBehavior::Isolated);
}
void apply_punctuation(PreTokenized& pt, SplitBehavior behavior, const Regex*) {
  split_chars(pt, is_bert_punctuation, behavior);
}
void apply_digits(PreTokenized& pt, SplitBehavior behavior, const Regex*) { split_chars(pt, is_numeric, behavior); }

}  // namespace

std::unique_ptr<PreTokenizer> make_byte_level_pre_tokenizer(bool add_prefix_space, bool use_regex) {
  return std::make_unique<ByteLevel>(add_prefix_space, true, use_regex);
}

std::unique_ptr<PreTokenizer> make_bert_pre_tokenizer() {
  return std::make_unique<FixedSplit>(OrderedJson{{"type", "BertPreTokenizer"}}, apply_bert, SplitBehavior::Isolated);
}

std::unique_ptr<PreTokenizer> PreTokenizer::from_json(const Json& json, const std::string& path) {
  const std::string type = component_type(json, path);
  if (type == "ByteLevel")
    return std::make_unique<ByteLevel>(get_bool(json, "add_prefix_space", path, true),
                                       get_bool(json, "trim_offsets", path, true),
                                       get_bool(json, "use_regex", path, true));
  if (type == "Split") {
    const std::string pattern_path = child_path(path, "pattern");
    return std::make_unique<Split>(pattern_from_json(field(json, "pattern", path), pattern_path),
                                   behavior_from_json(json, path, SplitBehavior::Isolated),
                                   get_bool(json, "invert", path, false));
  }
  if (type == "Metaspace") {
    std::string replacement = "\xE2\x96\x81";  // U+2581
    if (auto r = get_optional_string(json, "replacement", path)) replacement = *r;
    if (replacement.empty()) fail(child_path(path, "replacement"), "must be a non-empty string");
    PrependScheme scheme = get_bool(json, "add_prefix_space", path, true) ? PrependScheme::Always : PrependScheme::Never;
    if (auto s = get_optional_string(json, "prepend_scheme", path)) {
      if (*s == "always") scheme = PrependScheme::Always;
      else if (*s == "first") scheme = PrependScheme::First;
      else if (*s == "never") scheme = PrependScheme::Never;
      else fail(child_path(path, "prepend_scheme"), "expected \"always\", \"first\" or \"never\", got \"" + *s + "\"");
    }
    return std::make_unique<Metaspace>(replacement, scheme, get_bool(json, "split", path, true));
  }
  if (type == "Whitespace")
    return std::make_unique<FixedSplit>(OrderedJson{{"type", "Whitespace"}}, apply_whitespace, SplitBehavior::Removed,
                                        std::make_unique<Regex>(R"(\w+|[^\w\s]+)", path));
  if (type == "WhitespaceSplit")
    return std::make_unique<FixedSplit>(OrderedJson{{"type", "WhitespaceSplit"}}, apply_whitespace_split,
                                        SplitBehavior::Removed);
  if (type == "BertPreTokenizer") return make_bert_pre_tokenizer();
  if (type == "Punctuation") {
    const SplitBehavior b = behavior_from_json(json, path, SplitBehavior::Isolated);
    return std::make_unique<FixedSplit>(OrderedJson{{"type", "Punctuation"}, {"behavior", behavior_name(b)}},
                                        apply_punctuation, b);
  }
  if (type == "Digits") {
    const bool individual = get_bool(json, "individual_digits", path, false);
    return std::make_unique<FixedSplit>(OrderedJson{{"type", "Digits"}, {"individual_digits", individual}},
                                        apply_digits,
                                        individual ? SplitBehavior::Isolated : SplitBehavior::Contiguous);
  }
  if (type == "Sequence") {
    const std::string list_path = child_path(path, "pretokenizers");
    const Json& list = as_array(field(json, "pretokenizers", path), list_path);
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string item_path = index_path(list_path, i);
      if (!parts.empty() && parts.back()->is_byte_level())
        throw UnsupportedError(item_path +
                               ": a pre-tokenizer after ByteLevel is not supported by Cornerstone; ByteLevel must "
                               "be the last step of the Sequence");
      parts.push_back(from_json(list[i], item_path));
    }
    return std::make_unique<Sequence>(std::move(parts));
  }
  unsupported_component(path, "pre-tokenizer", type,
                        "ByteLevel, Split, Metaspace, Whitespace, WhitespaceSplit, Punctuation, Digits, "
                        "BertPreTokenizer, Sequence");
}

}  // namespace cornerstone::tokenize

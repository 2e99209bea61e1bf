#include "cornerstone/infer/json_constraint.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace cornerstone::infer {

namespace {

bool blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool digit(char c) { return c >= '0' && c <= '9'; }
bool hex(char c) { return digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

}  // namespace

bool JsonPrefix::value_start(char c) {
  if (stack_.empty() && c != '{') return false;  // json_object: the top-level value is an object
  switch (c) {
    case '{':
    case '[':
      if (static_cast<int>(stack_.size()) >= kMaxDepth) return false;
      stack_.push_back(c);
      mode_ = c == '{' ? Mode::KeyOrEnd : Mode::ValueOrEnd;
      return true;
    case '"': mode_ = Mode::String, key_ = false; return true;
    case '-': mode_ = Mode::Minus; return true;
    case '0': mode_ = Mode::Zero; return true;
    case 't': mode_ = Mode::Literal, literal_ = "rue"; return true;
    case 'f': mode_ = Mode::Literal, literal_ = "alse"; return true;
    case 'n': mode_ = Mode::Literal, literal_ = "ull"; return true;
    default:
      if (c >= '1' && c <= '9') {
        mode_ = Mode::Int;
        return true;
      }
      return false;
  }
}

// After a value: ',' or the end of its container.
bool JsonPrefix::after_value(char c) {
  if (stack_.empty()) return false;  // (complete() handles the top level)
  const char open = stack_.back();
  if (c == ',') {
    mode_ = open == '{' ? Mode::Key : Mode::Value;
    return true;
  }
  if ((open == '{' && c == '}') || (open == '[' && c == ']')) {
    stack_.pop_back();
    mode_ = stack_.empty() ? Mode::Done : Mode::AfterValue;
    return true;
  }
  return false;
}

bool JsonPrefix::push(char c) {
  const bool outside_string = mode_ != Mode::String && mode_ != Mode::Escape && mode_ != Mode::Unicode;
  if (outside_string && blank(c) && (mode_ == Mode::Value || mode_ == Mode::ValueOrEnd || mode_ == Mode::KeyOrEnd || mode_ == Mode::Key || mode_ == Mode::Colon ||
                                     mode_ == Mode::AfterValue)) {
    return ++blanks_ <= kMaxBlanks;
  }
  if (outside_string) blanks_ = 0;
  switch (mode_) {
    case Mode::Done: return false;
    case Mode::Value: return value_start(c);
    case Mode::ValueOrEnd:
      if (c == ']') {
        stack_.pop_back();
        mode_ = stack_.empty() ? Mode::Done : Mode::AfterValue;
        return true;
      }
      return value_start(c);
    case Mode::KeyOrEnd:
      if (c == '}') {
        stack_.pop_back();
        mode_ = stack_.empty() ? Mode::Done : Mode::AfterValue;
        return true;
      }
      [[fallthrough]];
    case Mode::Key:
      if (c != '"') return false;
      mode_ = Mode::String, key_ = true;
      return true;
    case Mode::Colon:
      if (c != ':') return false;
      mode_ = Mode::Value;
      return true;
    case Mode::AfterValue: return after_value(c);
    case Mode::String: {
      const auto b = static_cast<unsigned char>(c);
      if (utf8_need_ > 0) {  // inside a multi-byte character: only its continuation bytes
        if (b < utf8_lo_ || b > utf8_hi_) return false;
        --utf8_need_, utf8_lo_ = 0x80, utf8_hi_ = 0xBF;
        return true;
      }
      if (b >= 0x80) {  // a lead byte (RFC 3629's table)
        if (b >= 0xC2 && b <= 0xDF) utf8_need_ = 1;
        else if (b >= 0xE0 && b <= 0xEF) utf8_need_ = 2, utf8_lo_ = b == 0xE0 ? 0xA0 : 0x80, utf8_hi_ = b == 0xED ? 0x9F : 0xBF;
        else if (b >= 0xF0 && b <= 0xF4) utf8_need_ = 3, utf8_lo_ = b == 0xF0 ? 0x90 : 0x80, utf8_hi_ = b == 0xF4 ? 0x8F : 0xBF;
        else return false;
        return true;
      }
      if (c == '"') {
        mode_ = key_ ? Mode::Colon : Mode::AfterValue;
        return true;
      }
      if (c == '\\') {
        mode_ = Mode::Escape;
        return true;
      }
      return b >= 0x20;  // control characters must be escaped
    }
    case Mode::Escape:
      if (c == 'u') {
        mode_ = Mode::Unicode, hex_ = 0;
        return true;
      }
      if (!std::strchr("\"\\/bfnrt", c) || c == '\0') return false;
      mode_ = Mode::String;
      return true;
    case Mode::Unicode:
      if (!hex(c)) return false;
      if (++hex_ == 4) mode_ = Mode::String;
      return true;
    case Mode::Minus:
      if (c == '0') return mode_ = Mode::Zero, true;
      if (c >= '1' && c <= '9') return mode_ = Mode::Int, true;
      return false;
    case Mode::Zero:
    case Mode::Int:
      if (mode_ == Mode::Int && digit(c)) return true;
      if (c == '.') return mode_ = Mode::FracStart, true;
      if (c == 'e' || c == 'E') return mode_ = Mode::ExpStart, true;
      mode_ = Mode::AfterValue;  // the number ended: c belongs to what follows
      return push(c);
    case Mode::FracStart:
      if (!digit(c)) return false;
      mode_ = Mode::Frac;
      return true;
    case Mode::Frac:
      if (digit(c)) return true;
      if (c == 'e' || c == 'E') return mode_ = Mode::ExpStart, true;
      mode_ = Mode::AfterValue;
      return push(c);
    case Mode::ExpStart:
      if (c == '+' || c == '-') return mode_ = Mode::ExpSign, true;
      [[fallthrough]];
    case Mode::ExpSign:
      if (!digit(c)) return false;
      mode_ = Mode::Exp;
      return true;
    case Mode::Exp:
      if (digit(c)) return true;
      mode_ = Mode::AfterValue;
      return push(c);
    case Mode::Literal:
      if (c != *literal_) return false;
      if (*++literal_ == '\0') mode_ = Mode::AfterValue;
      return true;
  }
  return false;
}

bool JsonPrefix::push(std::string_view bytes) {
  for (char c : bytes)
    if (!push(c)) return false;
  return true;
}

JsonConstraint::JsonConstraint(const tokenize::Tokenizer& tokenizer) {
  const int64_t V = tokenizer.vocab_size();
  pieces_.resize(static_cast<size_t>(V));
  special_.resize(static_cast<size_t>(V));
  // A token's text as it appends to running output: decoded after a reference token and cut
  // from there (a SentencePiece word-start token then keeps its leading space, as in the output).
  const std::vector<int32_t> ref = tokenizer.encode("a");
  const std::string ref_text = ref.empty() ? std::string() : tokenizer.decode(ref);
  for (int32_t id = 0; id < V; ++id) {
    special_[static_cast<size_t>(id)] = tokenizer.is_special(id);
    if (special_[static_cast<size_t>(id)]) continue;
    std::vector<int32_t> ids = ref;
    ids.push_back(id);
    const std::string text = tokenizer.decode(ids);
    pieces_[static_cast<size_t>(id)] = text.compare(0, ref_text.size(), ref_text) == 0 ? text.substr(ref_text.size()) : tokenizer.decode(std::vector<int32_t>{id});
  }
}

int64_t JsonConstraint::mask(std::span<float> logits, const JsonPrefix& state, std::span<const int32_t> end_tokens) const {
  constexpr float kOff = -std::numeric_limits<float>::infinity();
  int64_t allowed = 0;
  const size_t V = std::min(logits.size(), pieces_.size());
  for (size_t id = 0; id < logits.size(); ++id) {
    const bool is_end = std::find(end_tokens.begin(), end_tokens.end(), static_cast<int32_t>(id)) != end_tokens.end();
    bool ok = false;
    if (is_end) {
      ok = state.complete();
    } else if (id < V && !special_[id] && !pieces_[id].empty()) {
      JsonPrefix next = state;
      ok = next.push(pieces_[id]);
    }
    if (ok)
      ++allowed;
    else
      logits[id] = kOff;
  }
  return allowed;
}

}  // namespace cornerstone::infer

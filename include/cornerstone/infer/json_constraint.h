// Constrained decoding for `response_format: {"type": "json_object"}`: the tokens a request may
// sample are those whose text keeps the output a prefix of one JSON object (RFC 8259), and the
// request ends as soon as the object is complete.
//
//   JsonConstraint c(tokenizer);                 // every token's text, computed once
//   JsonPrefix state;                            // per request
//   c.mask(logits, state);                       // -inf for every token that would break it
//   state.push(c.piece(token));                  // after sampling; state.complete() ends it
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cornerstone/tokenize/tokenizer.h"

namespace cornerstone::infer {

// A prefix of JSON text whose top-level value is an object, read byte by byte. Copyable (a few
// dozen bytes), so a candidate token is tried on a copy.
class JsonPrefix {
 public:
  // Appends the bytes; false (and the state unusable) when they cannot continue a JSON object.
  bool push(std::string_view bytes);
  bool push(char c);
  // The object is closed: nothing but the end may follow.
  bool complete() const { return mode_ == Mode::Done; }

  static constexpr int kMaxDepth = 64;
  static constexpr int kMaxBlanks = 16;  // consecutive whitespace outside strings (no endless blank runs)

 private:
  enum class Mode : uint8_t {
    Value,        // a value must start here
    ValueOrEnd,   // after '[': a value or ']'
    KeyOrEnd,     // after '{': a key or '}'
    Key,          // after ',' in an object: a key
    Colon,        // after a key
    AfterValue,   // ',' or the container's end
    String,       // inside a string (key_ says whether it is a key)
    Escape,       // after a backslash
    Unicode,      // in \uXXXX (hex_ digits read)
    Minus,        // a number's '-'
    Zero,         // a number's leading 0
    Int,          // integer digits
    FracStart,    // after '.'
    Frac,
    ExpStart,     // after 'e'
    ExpSign,      // after 'e+' / 'e-'
    Exp,
    Literal,      // inside true / false / null
    Done,
  };
  bool value_start(char c);
  bool after_value(char c);
  Mode mode_ = Mode::Value;
  std::string stack_;      // open containers, '{' or '[' (at most kMaxDepth)
  bool key_ = false;       // the string being read is an object key
  uint8_t hex_ = 0;        // \u digits read
  uint8_t blanks_ = 0;     // consecutive whitespace
  uint8_t utf8_need_ = 0;  // continuation bytes still due in a string's UTF-8 sequence
  uint8_t utf8_lo_ = 0x80, utf8_hi_ = 0xBF;  // the range of the next one (no overlongs, no surrogates)
  const char* literal_ = nullptr;  // the rest of true / false / null still expected
};

// Every token's text (what it appends to the output), for masking.
class JsonConstraint {
 public:
  explicit JsonConstraint(const tokenize::Tokenizer& tokenizer);
  // Sets the logits of tokens that cannot continue `state` to -inf. `end_tokens` (end of text,
  // chat stop tokens) stay allowed only once the object is complete. Returns the tokens left.
  int64_t mask(std::span<float> logits, const JsonPrefix& state, std::span<const int32_t> end_tokens) const;
  const std::string& piece(int32_t id) const { return pieces_[static_cast<size_t>(id)]; }

 private:
  std::vector<std::string> pieces_;
  std::vector<bool> special_;
};

}  // namespace cornerstone::infer

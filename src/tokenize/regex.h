// A compiled PCRE2 pattern (UTF + Unicode properties, JIT-compiled), safe to share between
// threads: matching allocates its own match data per call (internal).
//
// Ill-formed UTF-8 in the subject is allowed (PCRE2_MATCH_INVALID_UTF): it never matches any
// pattern item and acts as a boundary, exactly as if the valid runs on either side were matched
// as separate strings.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "tokenize/components.h"

namespace cornerstone::tokenize {

class Regex {
 public:
  // Throws FormatError naming `where` (e.g. "pre_tokenizer.pattern.Regex") and the position of the
  // syntax error. `literal` compiles the text as a plain string (the {"String": ...} patterns).
  Regex(std::string_view pattern, const std::string& where, bool literal = false);
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;

  const std::string& pattern() const { return pattern_; }
  bool literal() const { return literal_; }

  // Calls on_match(begin, end) for each successive non-overlapping match, left to right. Empty
  // matches are reported and the scan moves on by one character.
  void for_each_match(std::string_view text, const std::function<void(size_t, size_t)>& on_match) const;

  // Replaces every match with `replacement` (taken literally).
  std::string replace_all(std::string_view text, std::string_view replacement) const;

 private:
  struct Code;
  std::string pattern_;
  bool literal_ = false;
  std::unique_ptr<Code> code_;
};

// tokenizer.json patterns: {"String": "literal"} or {"Regex": "pattern"}.
Regex pattern_from_json(const Json& json, const std::string& path);
OrderedJson pattern_to_json(const Regex& regex);

}  // namespace cornerstone::tokenize

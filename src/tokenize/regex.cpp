#include "tokenize/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "cornerstone/core/error.h"
#include "tokenize/unicode.h"

namespace cornerstone::tokenize {

struct Regex::Code {
  pcre2_code* code = nullptr;
  ~Code() { pcre2_code_free(code); }
};

namespace {
struct MatchData {
  pcre2_match_data* md;
  explicit MatchData(const pcre2_code* code) : md(pcre2_match_data_create_from_pattern(code, nullptr)) {
    if (md == nullptr) throw std::bad_alloc();
  }
  ~MatchData() { pcre2_match_data_free(md); }
};
}  // namespace

Regex::Regex(std::string_view pattern, const std::string& where, bool literal)
    : pattern_(pattern), literal_(literal), code_(std::make_unique<Code>()) {
  if (literal) {
    // Plain substring search; an empty literal would match everywhere and is refused.
    if (pattern.empty()) throw FormatError(where + ": the string pattern is empty");
    return;
  }
  const uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
  int error = 0;
  PCRE2_SIZE offset = 0;
  code_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &error, &offset,
                              nullptr);
  if (code_->code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    throw FormatError(where + ": invalid regular expression at offset " + std::to_string(offset) + ": " +
                      reinterpret_cast<const char*>(message) + " (pattern: " + std::string(pattern) + ")");
  }
  // JIT is an accelerator only: if the platform lacks it, the interpreter gives the same matches.
  pcre2_jit_compile(code_->code, PCRE2_JIT_COMPLETE);
}

Regex::~Regex() = default;
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;

void Regex::for_each_match(std::string_view text, const std::function<void(size_t, size_t)>& on_match) const {
  if (literal_) {
    for (size_t at = text.find(pattern_); at != std::string_view::npos; at = text.find(pattern_, at + pattern_.size()))
      on_match(at, at + pattern_.size());
    return;
  }
  MatchData data(code_->code);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t start = 0;
  while (start <= text.size()) {
    const int rc = pcre2_match(code_->code, subject, text.size(), start, 0, data.md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof(message));
      throw Error("regex match failed for pattern '" + pattern_ + "': " + reinterpret_cast<const char*>(message));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data.md);
    const size_t b = ov[0], e = ov[1];
    on_match(b, e);
    if (e > b) {
      start = e;
    } else {
      if (e >= text.size()) break;
      start = e + unicode::decode(text, e).len;
    }
  }
}

std::string Regex::replace_all(std::string_view text, std::string_view replacement) const {
  std::string out;
  out.reserve(text.size());
  size_t last = 0;
  for_each_match(text, [&](size_t b, size_t e) {
    out.append(text.substr(last, b - last));
    out.append(replacement);
    last = e;
  });
  out.append(text.substr(last));
  return out;
}

Regex pattern_from_json(const Json& json, const std::string& path) {
  as_object(json, path);
  if (const Json* s = optional_field(json, "String", path))
    return Regex(as_string(*s, child_path(path, "String")), child_path(path, "String"), /*literal=*/true);
  if (const Json* r = optional_field(json, "Regex", path))
    return Regex(as_string(*r, child_path(path, "Regex")), child_path(path, "Regex"));
  fail(path, "expected {\"String\": ...} or {\"Regex\": ...}");
}

OrderedJson pattern_to_json(const Regex& regex) {
  return {{regex.literal() ? "String" : "Regex", regex.pattern()}};
}

}  // namespace cornerstone::tokenize

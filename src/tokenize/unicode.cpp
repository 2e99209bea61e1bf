#include "tokenize/unicode.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/ustring.h>

#include "cornerstone/core/error.h"

namespace cornerstone::tokenize::unicode {

Char decode(std::string_view s, size_t i) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  const unsigned char b0 = p[i];
  if (b0 < 0x80) return {b0, 1};
  auto cont = [&](size_t k) { return i + k < n && (p[i + k] & 0xC0) == 0x80; };
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (cont(1)) return {static_cast<char32_t>(((b0 & 0x1F) << 6) | (p[i + 1] & 0x3F)), 2};
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (cont(1) && cont(2)) {
      const char32_t cp = ((b0 & 0x0F) << 12) | ((p[i + 1] & 0x3F) << 6) | (p[i + 2] & 0x3F);
      if (cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) return {cp, 3};
    }
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (cont(1) && cont(2) && cont(3)) {
      const char32_t cp =
          ((b0 & 0x07) << 18) | ((p[i + 1] & 0x3F) << 12) | ((p[i + 2] & 0x3F) << 6) | (p[i + 3] & 0x3F);
      if (cp >= 0x10000 && cp <= 0x10FFFF) return {cp, 4};
    }
  }
  return {kInvalid, 1};
}

void append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t length(std::string_view s) {
  size_t count = 0;
  for (size_t i = 0; i < s.size(); i += decode(s, i).len) ++count;
  return count;
}

bool is_ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

bool is_valid(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const Char c = decode(s, i);
    if (c.cp == kInvalid) return false;
    i += c.len;
  }
  return true;
}

size_t complete_prefix(std::string_view s) {
  // Look back at most 3 bytes for the lead byte of an unfinished sequence.
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const unsigned char b = p[n - back];
    if ((b & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    int need = 0;
    if (b >= 0xC2 && b <= 0xDF) need = 2;
    else if (b >= 0xE0 && b <= 0xEF) need = 3;
    else if (b >= 0xF0 && b <= 0xF4) need = 4;
    if (need > static_cast<int>(back)) {
      // Unfinished only if what is there so far could still become valid.
      std::string probe(s.substr(n - back));
      const unsigned char fill[4] = {0, 0x80, 0x80, 0x80};
      // The second byte range is restricted for E0/ED/F0/F4; test with the smallest legal one.
      unsigned char second = 0x80;
      if (b == 0xE0) second = 0xA0;
      if (b == 0xF0) second = 0x90;
      if (back == 1) probe.push_back(static_cast<char>(second));
      while (static_cast<int>(probe.size()) < need) probe.push_back(static_cast<char>(fill[probe.size()]));
      if (decode(probe, 0).cp != kInvalid) return n - back;
    }
    return n;
  }
  return n;
}

namespace {
int8_t category(char32_t cp) {
  if (cp == kInvalid) return -1;
  return static_cast<int8_t>(u_charType(static_cast<UChar32>(cp)));
}
uint32_t category_mask(char32_t cp) {
  const int8_t c = category(cp);
  return c < 0 ? 0u : U_MASK(c);
}
}  // namespace

bool is_white_space(char32_t cp) { return cp != kInvalid && u_isUWhiteSpace(static_cast<UChar32>(cp)); }
bool is_alphanumeric(char32_t cp) { return (category_mask(cp) & (U_GC_L_MASK | U_GC_N_MASK)) != 0; }
bool is_numeric(char32_t cp) { return (category_mask(cp) & U_GC_N_MASK) != 0; }
bool is_punctuation(char32_t cp) { return (category_mask(cp) & U_GC_P_MASK) != 0; }
bool is_mark(char32_t cp) { return (category_mask(cp) & U_GC_M_MASK) != 0; }
bool is_nonspacing_mark(char32_t cp) { return (category_mask(cp) & U_GC_MN_MASK) != 0; }
bool is_other(char32_t cp) { return (category_mask(cp) & U_GC_C_MASK) != 0; }

bool is_bert_punctuation(char32_t cp) {
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126))
    return true;
  return is_punctuation(cp);
}

bool is_cjk_ideograph(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

namespace {

const icu::Normalizer2& normalizer_for(Form form) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n = nullptr;
  switch (form) {
    case Form::NFC: n = icu::Normalizer2::getNFCInstance(status); break;
    case Form::NFD: n = icu::Normalizer2::getNFDInstance(status); break;
    case Form::NFKC: n = icu::Normalizer2::getNFKCInstance(status); break;
    case Form::NFKD: n = icu::Normalizer2::getNFKDInstance(status); break;
  }
  if (U_FAILURE(status) || n == nullptr)
    throw Error(std::string("unicode normalization: ICU could not load its data: ") + u_errorName(status) +
                "; reinstall libicu72");
  return *n;
}

// Calls on_valid(run) / on_invalid(run) for the maximal well-formed and ill-formed runs of `s`.
template <class Valid, class Invalid>
void for_each_run(std::string_view s, Valid on_valid, Invalid on_invalid) {
  size_t i = 0;
  while (i < s.size()) {
    const size_t start = i;
    const bool valid = decode(s, i).cp != kInvalid;
    while (i < s.size()) {
      const Char c = decode(s, i);
      if ((c.cp != kInvalid) != valid) break;
      i += c.len;
    }
    if (valid) on_valid(s.substr(start, i - start));
    else on_invalid(s.substr(start, i - start));
  }
}

}  // namespace

std::string normalize(std::string_view s, Form form) {
  // Pure ASCII is invariant under all four forms.
  if (is_ascii(s)) return std::string(s);
  const icu::Normalizer2& n = normalizer_for(form);
  std::string out;
  out.reserve(s.size());
  for_each_run(
      s,
      [&](std::string_view run) {
        UErrorCode status = U_ZERO_ERROR;
        icu::StringByteSink<std::string> sink(&out);
        n.normalizeUTF8(0, icu::StringPiece(run.data(), static_cast<int32_t>(run.size())), sink, nullptr, status);
        if (U_FAILURE(status)) throw Error(std::string("unicode normalization failed: ") + u_errorName(status));
      },
      [&](std::string_view run) { out.append(run); });
  return out;
}

std::string lowercase(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const Char c = decode(s, i);
    if (c.cp < 0x80) {
      const char ch = static_cast<char>(c.cp);
      out.push_back(ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch);
    } else if (c.cp == kInvalid) {
      out.push_back(s[i]);
    } else {
      // Full (one-to-many) mapping of this one character, with no surrounding context.
      UChar src[2];
      int32_t src_len = 0;
      U16_APPEND_UNSAFE(src, src_len, static_cast<UChar32>(c.cp));
      UChar dst[8];
      UErrorCode status = U_ZERO_ERROR;
      const int32_t dst_len = u_strToLower(dst, 8, src, src_len, "", &status);
      if (U_FAILURE(status)) {
        out.append(s.substr(i, c.len));
      } else {
        for (int32_t k = 0; k < dst_len;) {
          UChar32 cp;
          U16_NEXT(dst, k, dst_len, cp);
          append(out, static_cast<char32_t>(cp));
        }
      }
    }
    i += c.len;
  }
  return out;
}

}  // namespace cornerstone::tokenize::unicode

// UTF-8 and Unicode helpers for the tokenizer pipeline (internal).
//
// Text moves through the pipeline as UTF-8 bytes in std::string. Input need not be valid UTF-8:
// every helper here treats each byte of an ill-formed sequence as one opaque "character" that has
// no case, no decomposition and no Unicode category, and passes it through unchanged. The
// tokenizer then encodes such bytes byte-exactly (byte-level BPE), as byte-fallback tokens, or as
// the unknown token (WordPiece); see docs/tokenizers.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace cornerstone::tokenize::unicode {

// One decoded character: `cp` is the code point, or kInvalid for a byte of an ill-formed
// sequence; `len` is the number of bytes it occupies (1..4).
inline constexpr char32_t kInvalid = 0xFFFFFFFF;
struct Char {
  char32_t cp;
  int len;
};

// Decodes the character at `s[i]` (i < s.size()). Strict UTF-8: no overlongs, no surrogates,
// nothing above U+10FFFF; an ill-formed byte decodes as {kInvalid, 1}.
Char decode(std::string_view s, size_t i);

// Appends the UTF-8 encoding of `cp` (a valid scalar value).
void append(std::string& out, char32_t cp);

// Number of characters (code points plus invalid bytes) in `s`.
size_t length(std::string_view s);

bool is_ascii(std::string_view s);
bool is_valid(std::string_view s);

// Length of the longest prefix of `s` that ends on a complete character: the tail that is a
// proper prefix of a valid multi-byte sequence (at most 3 bytes) is left out. Used by streaming
// decoding so that no half character is ever emitted.
size_t complete_prefix(std::string_view s);

// Character classes (Unicode 15 via ICU). All return false for kInvalid.
bool is_white_space(char32_t cp);   // Unicode White_Space (Rust char::is_whitespace)
bool is_alphanumeric(char32_t cp);  // L* or N* (Rust char::is_alphanumeric)
bool is_numeric(char32_t cp);       // N* (Rust char::is_numeric)
bool is_punctuation(char32_t cp);   // P*
bool is_mark(char32_t cp);          // M* (Mn, Mc, Me)
bool is_nonspacing_mark(char32_t cp);  // Mn
bool is_other(char32_t cp);         // C* (Cc, Cf, Cs, Co, Cn)
// BERT's punctuation: every ASCII non-alphanumeric printable, or P*.
bool is_bert_punctuation(char32_t cp);
// BERT's "Chinese character": the CJK Unified Ideographs blocks and their extensions.
bool is_cjk_ideograph(char32_t cp);

// Unicode normalization forms. Ill-formed bytes pass through unchanged and split the text into
// independently normalized runs.
enum class Form { NFC, NFD, NFKC, NFKD };
std::string normalize(std::string_view s, Form form);

// Full lower-case mapping applied character by character, without context (so a final capital
// sigma maps to σ, as in the Rust `char::to_lowercase` the reference library uses).
std::string lowercase(std::string_view s);

}  // namespace cornerstone::tokenize::unicode

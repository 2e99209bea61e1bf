#include "tokenize/byte_level.h"

#include <array>

#include "tokenize/unicode.h"

namespace cornerstone::tokenize::byte_level {

namespace {

struct Table {
  std::array<std::string, 256> chars;  // byte -> UTF-8 of its character
  std::array<int, 324> bytes;          // code point (< 324) -> byte, or -1

  Table() {
    bytes.fill(-1);
    int shifted = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t cp = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + shifted++);
      unicode::append(chars[b], cp);
      bytes[cp] = b;
    }
  }
};

const Table& table() {
  static const Table t;
  return t;
}

}  // namespace

const std::string& char_of(unsigned char b) { return table().chars[b]; }

std::string encode(std::string_view bytes) {
  const Table& t = table();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += t.chars[static_cast<unsigned char>(c)];
  return out;
}

std::optional<std::string> decode(std::string_view token) {
  const Table& t = table();
  std::string out;
  out.reserve(token.size());
  for (size_t i = 0; i < token.size();) {
    const auto c = unicode::decode(token, i);
    if (c.cp >= t.bytes.size() || t.bytes[c.cp] < 0) return std::nullopt;
    out.push_back(static_cast<char>(t.bytes[c.cp]));
    i += c.len;
  }
  return out;
}

}  // namespace cornerstone::tokenize::byte_level

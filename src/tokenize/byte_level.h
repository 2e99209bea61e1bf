// GPT-2's byte <-> character table (internal).
//
// Byte-level BPE vocabularies spell every byte as one printable character: the printable Latin-1
// bytes stand for themselves and the other 68 bytes are moved to U+0100.. in order (space is
// "Ġ", U+0120). Cornerstone translates such vocabularies back to raw bytes at load time and
// runs the merges on bytes; these helpers convert between the two spellings.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cornerstone::tokenize::byte_level {

// The character (as UTF-8) that spells byte `b`.
const std::string& char_of(unsigned char b);

// Raw bytes -> byte-level spelling.
std::string encode(std::string_view bytes);

// Byte-level spelling -> raw bytes; nullopt when a character is not in the table.
std::optional<std::string> decode(std::string_view token);

}  // namespace cornerstone::tokenize::byte_level

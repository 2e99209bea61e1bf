// Size arithmetic on numbers that come from outside: file headers, configs, requests. A product
// of a header count and an element size can wrap around 64 bits and then pass a bounds check
// (2^32 x 2^32 x 4 bytes "needs" 0 bytes); these functions refuse instead, naming what was being
// computed so the error says which field of which file is at fault.
//
//   uint64_t n = checked_mul(rows, cols, where);               // FormatError on overflow
//   uint64_t bytes = checked_mul(n, 4, where);
//   check_range(offset, bytes, file_size, where);              // [offset, offset + bytes) in the file
//   cfg.n_layers = check_limit(n, 1, kMaxLayers, "config.json: n_layer");   // ValueError naming the limit
//
// `where` is a prefix for the message ("model.safetensors: tensor 'wte'"); the message adds the
// operands. Every function throws; the bool forms (`mul_overflows`, `range_within`) are for the
// callers that build their own message.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>

namespace cornerstone {

// True when a * b (or a + b) does not fit in 64 bits; *out holds the result otherwise.
inline bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) { return __builtin_mul_overflow(a, b, out); }
inline bool add_overflows(uint64_t a, uint64_t b, uint64_t* out) { return __builtin_add_overflow(a, b, out); }

// a * b and a + b, or FormatError "<where>: a x b overflows 64 bits (corrupt or hostile size?)".
uint64_t checked_mul(uint64_t a, uint64_t b, const std::string& where);
uint64_t checked_add(uint64_t a, uint64_t b, const std::string& where);
// The product of all dimensions (1 for none), each step checked.
uint64_t checked_product(std::span<const uint64_t> dims, const std::string& where);
uint64_t checked_product(std::initializer_list<uint64_t> dims, const std::string& where);

// True when [offset, offset + length) lies inside [0, size), computed without wrapping.
inline bool range_within(uint64_t offset, uint64_t length, uint64_t size) {
  return offset <= size && length <= size - offset;
}
// FormatError "<where>: bytes [offset, offset + length) run past the end (size bytes)" unless in range.
void check_range(uint64_t offset, uint64_t length, uint64_t size, const std::string& where);

// A count read from a file as a size_t index, refusing values beyond what the caller can hold.
// FormatError "<where>: value v exceeds the limit hi".
uint64_t check_count(uint64_t v, uint64_t hi, const std::string& where);

// A config integer in [lo, hi], before anything is allocated from it. ValueError
// "<key>: v is outside the supported range [lo, hi]" (a corrupt config, or a model far beyond
// what runs on one CPU machine).
int64_t check_limit(int64_t v, int64_t lo, int64_t hi, const std::string& key);

}  // namespace cornerstone

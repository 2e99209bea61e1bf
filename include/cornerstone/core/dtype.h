// Element types. f32 is the training type; bf16 the mixed-precision and inference type; i32 holds
// token ids and targets; u8 holds masks and pixels. f16 and the GGUF block types q8_0 / q4_0 are storage-only formats for
// inference weights: a "block" packs `block_size` logical elements into `block_bytes` bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace cornerstone {

enum class DType : uint8_t {
  F32,
  BF16,
  F16,
  I32,
  Q8_0,  // GGUF: 32 int8 weights + one fp16 scale = 34 bytes
  Q4_0,  // GGUF: 32 4-bit weights + one fp16 scale = 18 bytes
  U8,    // bytes: dropout masks, image pixels
};

struct DTypeInfo {
  std::string_view name;
  size_t block_size;   // logical elements per block (1 for scalar types)
  size_t block_bytes;  // bytes per block
};

const DTypeInfo& dtype_info(DType t);
inline std::string_view dtype_name(DType t) { return dtype_info(t).name; }
// Bytes needed for n logical elements (n must be a multiple of the block size).
size_t dtype_bytes(DType t, int64_t n);
bool dtype_is_float(DType t);
// Parses "f32", "bf16", ...; throws ValueError naming the accepted values.
DType dtype_from_name(std::string_view name);

// bfloat16 as bits. Conversions round to nearest even and keep NaN a NaN.
struct bf16 {
  uint16_t bits;
};

inline float bf16_to_f32(bf16 h) {
  uint32_t u = static_cast<uint32_t>(h.bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

inline bf16 f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{static_cast<uint16_t>((u >> 16) | 0x40)};  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return bf16{static_cast<uint16_t>(u >> 16)};
}

// IEEE half as bits (GGUF scales, f16 weights).
struct f16 {
  uint16_t bits;
};
float f16_to_f32(f16 h);
f16 f32_to_f16(float f);

}  // namespace cornerstone

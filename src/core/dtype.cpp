#include "cornerstone/core/dtype.h"

#include <array>
#include <string>

#include "cornerstone/core/error.h"

namespace cornerstone {

namespace {
constexpr std::array<DTypeInfo, 7> kInfo = {{
    {"f32", 1, 4},
    {"bf16", 1, 2},
    {"f16", 1, 2},
    {"i32", 1, 4},
    {"q8_0", 32, 34},
    {"q4_0", 32, 18},
    {"u8", 1, 1},
}};
}  // namespace

const DTypeInfo& dtype_info(DType t) { return kInfo[static_cast<size_t>(t)]; }

size_t dtype_bytes(DType t, int64_t n) {
  const DTypeInfo& info = dtype_info(t);
  if (n % static_cast<int64_t>(info.block_size) != 0)
    throw ShapeError(std::string(info.name) + ": " + std::to_string(n) + " elements is not a multiple of the block size " +
                     std::to_string(info.block_size));
  size_t bytes;
  if (n < 0 || __builtin_mul_overflow(static_cast<size_t>(n) / info.block_size, info.block_bytes, &bytes))
    throw ShapeError(std::string(info.name) + ": the byte size of " + std::to_string(n) + " elements overflows 64 bits");
  return bytes;
}

bool dtype_is_float(DType t) { return t != DType::I32 && t != DType::U8; }

DType dtype_from_name(std::string_view name) {
  for (size_t i = 0; i < kInfo.size(); ++i)
    if (kInfo[i].name == name) return static_cast<DType>(i);
  throw ValueError("unknown dtype '" + std::string(name) + "' (expected one of f32, bf16, f16, i32, q8_0, q4_0, u8)");
}

float f16_to_f32(f16 h) {
  const uint32_t sign = static_cast<uint32_t>(h.bits & 0x8000u) << 16;
  uint32_t exp = (h.bits >> 10) & 0x1fu;
  uint32_t mant = h.bits & 0x3ffu;
  uint32_t u;
  if (exp == 0) {
    if (mant == 0) {
      u = sign;
    } else {  // subnormal: renormalise
      exp = 127 - 15 + 1;
      while (!(mant & 0x400u)) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ffu;
      u = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 0x1f) {
    u = sign | 0x7f800000u | (mant << 13);
  } else {
    u = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

f16 f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return f16{static_cast<uint16_t>(sign | 0x7e00u)};  // NaN
  if (abs >= 0x477ff000u) return f16{static_cast<uint16_t>(sign | 0x7c00u)};  // overflow -> inf
  if (abs < 0x38800000u) {                                                   // subnormal or zero in f16
    if (abs < 0x33000000u) return f16{sign};
    const uint32_t exp = abs >> 23;
    const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - exp;  // f16 subnormal mantissa = value / 2^-24
    uint32_t m = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (m & 1u))) ++m;
    return f16{static_cast<uint16_t>(sign | m)};
  }
  // normal: rebias exponent, round mantissa to nearest even
  uint32_t v = abs - (112u << 23);
  v += 0xfffu + ((v >> 13) & 1u);
  return f16{static_cast<uint16_t>(sign | (v >> 13))};
}

}  // namespace cornerstone

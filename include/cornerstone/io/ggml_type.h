// ggml's tensor element types, as GGUF tensor infos name them: the type code, its name and its
// block layout (elements per block, bytes per block). Cornerstone reads and writes F32, F16,
// BF16, Q8_0 and Q4_0; the others are known so that a file using them is parsed and reported by
// tensor name ("blk.0.ffn_down.weight is q6_K, which Cornerstone cannot load yet").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cornerstone/core/dtype.h"

namespace cornerstone::io {

enum class GGMLType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

struct GGMLTypeInfo {
  std::string_view name;  // "f32", "q8_0", "q6_K", ...
  uint32_t block_size;    // elements per block (1 for plain types)
  uint32_t block_bytes;   // bytes per block
};

// The layout of type code `code`, or nullopt for a code ggml does not define (or no longer does).
std::optional<GGMLTypeInfo> ggml_type_info(uint32_t code);
// "q8_0", or "type 31" for an unknown code.
std::string ggml_type_name(uint32_t code);

// The Cornerstone dtype holding a ggml type, when there is one (F32, F16, BF16, Q8_0, Q4_0).
std::optional<DType> dtype_of_ggml(GGMLType t);
// The ggml type of a Cornerstone dtype; throws UnsupportedError for I32 / U8.
GGMLType ggml_type_of(DType t);

}  // namespace cornerstone::io

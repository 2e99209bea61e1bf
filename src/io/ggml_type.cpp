#include "cornerstone/io/ggml_type.h"

#include <array>

#include "cornerstone/core/error.h"

namespace cornerstone::io {

namespace {

struct Entry {
  uint32_t code;
  GGMLTypeInfo info;
};

// Block layouts from ggml's type traits (ggml/src/ggml.c); codes 4, 5, 31-33 and 36-38 were
// removed from ggml and are rejected.
constexpr std::array<Entry, 32> kTypes = {{
    {0, {"f32", 1, 4}},         {1, {"f16", 1, 2}},          {2, {"q4_0", 32, 18}},       {3, {"q4_1", 32, 20}},
    {6, {"q5_0", 32, 22}},      {7, {"q5_1", 32, 24}},       {8, {"q8_0", 32, 34}},       {9, {"q8_1", 32, 36}},
    {10, {"q2_K", 256, 84}},    {11, {"q3_K", 256, 110}},    {12, {"q4_K", 256, 144}},    {13, {"q5_K", 256, 176}},
    {14, {"q6_K", 256, 210}},   {15, {"q8_K", 256, 292}},    {16, {"iq2_xxs", 256, 66}},  {17, {"iq2_xs", 256, 74}},
    {18, {"iq3_xxs", 256, 98}}, {19, {"iq1_s", 256, 50}},    {20, {"iq4_nl", 32, 18}},    {21, {"iq3_s", 256, 110}},
    {22, {"iq2_s", 256, 82}},   {23, {"iq4_xs", 256, 136}},  {24, {"i8", 1, 1}},          {25, {"i16", 1, 2}},
    {26, {"i32", 1, 4}},        {27, {"i64", 1, 8}},         {28, {"f64", 1, 8}},         {29, {"iq1_m", 256, 56}},
    {30, {"bf16", 1, 2}},       {34, {"tq1_0", 256, 54}},    {35, {"tq2_0", 256, 66}},    {39, {"mxfp4", 32, 17}},
}};

}  // namespace

std::optional<GGMLTypeInfo> ggml_type_info(uint32_t code) {
  for (const Entry& e : kTypes)
    if (e.code == code) return e.info;
  return std::nullopt;
}

std::string ggml_type_name(uint32_t code) {
  const auto info = ggml_type_info(code);
  return info ? std::string(info->name) : "type " + std::to_string(code);
}

std::optional<DType> dtype_of_ggml(GGMLType t) {
  switch (t) {
    case GGMLType::F32: return DType::F32;
    case GGMLType::F16: return DType::F16;
    case GGMLType::BF16: return DType::BF16;
    case GGMLType::Q8_0: return DType::Q8_0;
    case GGMLType::Q4_0: return DType::Q4_0;
    default: return std::nullopt;
  }
}

GGMLType ggml_type_of(DType t) {
  switch (t) {
    case DType::F32: return GGMLType::F32;
    case DType::F16: return GGMLType::F16;
    case DType::BF16: return GGMLType::BF16;
    case DType::Q8_0: return GGMLType::Q8_0;
    case DType::Q4_0: return GGMLType::Q4_0;
    default: throw UnsupportedError("GGUF: tensors of dtype " + std::string(dtype_name(t)) + " are not written (f32, f16, bf16, q8_0, q4_0 are)");
  }
}

}  // namespace cornerstone::io

// GGUF metadata values: the typed key/value pairs in a GGUF file's header (io/gguf.h).
//
// A value has one of GGUF's 13 types; an array holds values of one element type (arrays of
// arrays are allowed by the format). The C++ alternative of the variant is in type-code order,
// so `type()` is the code the file stores.
//
//   GGUFValue n = GGUFValue::u32(12);
//   GGUFValue toks = GGUFValue::strings({"<s>", "hello"});
//   n.as_uint("model.gguf: metadata 'llama.block_count'");     // 12; accepts any integer type
//   toks.as_string("...");                                       // throws FormatError: "... should be a string, is array[string]"
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace cornerstone::io {

enum class GGUFType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};
inline constexpr uint32_t kGGUFTypeCount = 13;

// "uint32", "string", "array", ... as in the GGUF specification.
std::string_view gguf_type_name(GGUFType t);

class GGUFValue;

struct GGUFArray {
  GGUFType type = GGUFType::U8;  // element type
  std::vector<GGUFValue> items;
  bool operator==(const GGUFArray& o) const;
};

class GGUFValue {
 public:
  // Alternatives in GGUF type-code order: index() == type code.
  using Variant = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool, std::string,
                               GGUFArray, uint64_t, int64_t, double>;

  GGUFValue() = default;  // uint8 0
  explicit GGUFValue(Variant v) : v_(std::move(v)) {}

  static GGUFValue u32(uint32_t x) { return GGUFValue(Variant(std::in_place_type<uint32_t>, x)); }
  static GGUFValue i32(int32_t x) { return GGUFValue(Variant(std::in_place_type<int32_t>, x)); }
  static GGUFValue u64(uint64_t x) { return GGUFValue(Variant(std::in_place_type<uint64_t>, x)); }
  static GGUFValue f32(float x) { return GGUFValue(Variant(std::in_place_type<float>, x)); }
  static GGUFValue boolean(bool x) { return GGUFValue(Variant(std::in_place_type<bool>, x)); }
  static GGUFValue string(std::string s) { return GGUFValue(Variant(std::in_place_type<std::string>, std::move(s))); }
  // An array of `type`; throws ValueError when an item has another type.
  static GGUFValue array(GGUFType type, std::vector<GGUFValue> items);
  static GGUFValue strings(const std::vector<std::string>& items);
  static GGUFValue i32s(const std::vector<int32_t>& items);
  static GGUFValue f32s(const std::vector<float>& items);

  GGUFType type() const { return static_cast<GGUFType>(v_.index()); }
  const Variant& variant() const { return v_; }

  // Typed reads. `where` names the value in the error ("model.gguf: metadata 'llama.block_count'").
  // as_uint / as_int accept every integer type whose value fits; as_float accepts f32 and f64.
  uint64_t as_uint(const std::string& where) const;
  int64_t as_int(const std::string& where) const;
  double as_float(const std::string& where) const;
  bool as_bool(const std::string& where) const;
  const std::string& as_string(const std::string& where) const;
  // The array, checking its element type.
  const GGUFArray& as_array(GGUFType element, const std::string& where) const;
  std::vector<std::string> as_strings(const std::string& where) const;

  // "uint32", "array[string]", ...
  std::string type_str() const;
  // A short printable form for messages ("12", "\"llama\"", "array[string] of 32000").
  std::string str() const;

  bool operator==(const GGUFValue& o) const { return v_ == o.v_; }

 private:
  Variant v_;
};

}  // namespace cornerstone::io

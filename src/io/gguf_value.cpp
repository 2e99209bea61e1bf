#include "cornerstone/io/gguf_value.h"

#include <array>
#include <limits>
#include <type_traits>

#include "cornerstone/core/error.h"

namespace cornerstone::io {

namespace {

constexpr std::array<std::string_view, kGGUFTypeCount> kTypeNames = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"};

std::string type_error(const std::string& where, const char* expected, const GGUFValue& v) {
  return where + " should be " + expected + ", is " + v.type_str();
}

}  // namespace

std::string_view gguf_type_name(GGUFType t) {
  const auto i = static_cast<uint32_t>(t);
  return i < kGGUFTypeCount ? kTypeNames[i] : std::string_view("unknown");
}

bool GGUFArray::operator==(const GGUFArray& o) const { return type == o.type && items == o.items; }

GGUFValue GGUFValue::array(GGUFType type, std::vector<GGUFValue> items) {
  for (size_t i = 0; i < items.size(); ++i)
    if (items[i].type() != type)
      throw ValueError("GGUF array of " + std::string(gguf_type_name(type)) + ": item " + std::to_string(i) + " is " +
                       items[i].type_str());
  return GGUFValue(Variant(std::in_place_type<GGUFArray>, GGUFArray{type, std::move(items)}));
}

GGUFValue GGUFValue::strings(const std::vector<std::string>& items) {
  std::vector<GGUFValue> v;
  v.reserve(items.size());
  for (const auto& s : items) v.push_back(string(s));
  return GGUFValue(Variant(std::in_place_type<GGUFArray>, GGUFArray{GGUFType::String, std::move(v)}));
}

GGUFValue GGUFValue::i32s(const std::vector<int32_t>& items) {
  std::vector<GGUFValue> v;
  v.reserve(items.size());
  for (int32_t x : items) v.push_back(i32(x));
  return GGUFValue(Variant(std::in_place_type<GGUFArray>, GGUFArray{GGUFType::I32, std::move(v)}));
}

GGUFValue GGUFValue::f32s(const std::vector<float>& items) {
  std::vector<GGUFValue> v;
  v.reserve(items.size());
  for (float x : items) v.push_back(f32(x));
  return GGUFValue(Variant(std::in_place_type<GGUFArray>, GGUFArray{GGUFType::F32, std::move(v)}));
}

uint64_t GGUFValue::as_uint(const std::string& where) const {
  return std::visit(
      [&](const auto& x) -> uint64_t {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          if constexpr (std::is_signed_v<T>)
            if (x < 0) throw FormatError(where + " should be a non-negative integer, is " + std::to_string(x));
          return static_cast<uint64_t>(x);
        } else {
          throw FormatError(type_error(where, "an unsigned integer", *this));
        }
      },
      v_);
}

int64_t GGUFValue::as_int(const std::string& where) const {
  return std::visit(
      [&](const auto& x) -> int64_t {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          if constexpr (std::is_same_v<T, uint64_t>)
            if (x > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
              throw FormatError(where + " is too large: " + std::to_string(x));
          return static_cast<int64_t>(x);
        } else {
          throw FormatError(type_error(where, "an integer", *this));
        }
      },
      v_);
}

double GGUFValue::as_float(const std::string& where) const {
  if (const float* f = std::get_if<float>(&v_)) return *f;
  if (const double* d = std::get_if<double>(&v_)) return *d;
  throw FormatError(type_error(where, "a float", *this));
}

bool GGUFValue::as_bool(const std::string& where) const {
  if (const bool* b = std::get_if<bool>(&v_)) return *b;
  throw FormatError(type_error(where, "a bool", *this));
}

const std::string& GGUFValue::as_string(const std::string& where) const {
  if (const std::string* s = std::get_if<std::string>(&v_)) return *s;
  throw FormatError(type_error(where, "a string", *this));
}

const GGUFArray& GGUFValue::as_array(GGUFType element, const std::string& where) const {
  const GGUFArray* a = std::get_if<GGUFArray>(&v_);
  if (!a || a->type != element)
    throw FormatError(type_error(where, ("an array of " + std::string(gguf_type_name(element))).c_str(), *this));
  return *a;
}

std::vector<std::string> GGUFValue::as_strings(const std::string& where) const {
  const GGUFArray& a = as_array(GGUFType::String, where);
  std::vector<std::string> out;
  out.reserve(a.items.size());
  for (const auto& v : a.items) out.push_back(std::get<std::string>(v.v_));
  return out;
}

std::string GGUFValue::type_str() const {
  if (const GGUFArray* a = std::get_if<GGUFArray>(&v_)) return "array[" + std::string(gguf_type_name(a->type)) + "]";
  return std::string(gguf_type_name(type()));
}

std::string GGUFValue::str() const {
  return std::visit(
      [&](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, bool>) return x ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::string>) return "\"" + (x.size() > 60 ? x.substr(0, 60) + "..." : x) + "\"";
        else if constexpr (std::is_same_v<T, GGUFArray>) return type_str() + " of " + std::to_string(x.items.size());
        else return std::to_string(x);
      },
      v_);
}

}  // namespace cornerstone::io

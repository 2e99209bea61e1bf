// Reading JSON with errors that say where, in two styles:
//
// 1. JsonFields: strict reading of a JSON config object into a struct: every key must be one the reader knows
// (an unknown key is an error listing the known ones), and a value of the wrong type is an error
// naming "<where>.<key>" and the value. Keys that are absent leave their field as it was (the
// preset's or the default).
//
//   JsonFields f(j, "model");                      // ValueError unless j is an object
//   f.integer("n_layers", c.n_layers).number("dropout", c.dropout).boolean("pre_norm", c.pre_norm);
//   f.custom("arch", [&](const nlohmann::json& v) { /* check and set */ });
//   f.read();                                      // applies the present keys
//
// 2. json::field / json::as_string / ...: typed access into a foreign document (tokenizer.json),
//    where each call names the JSON path of the value and a wrong value is a FormatError naming it:
//
//   const nlohmann::json& merges = json::field(model, "merges", "model");
//       // FormatError "model: missing required field 'merges'"
//   std::string s = json::as_string(merges[12], "model.merges[12]");
//       // FormatError "model.merges[12]: expected a string, got integer"
//
//    The reader of the whole document prefixes its name (see tokenize/tokenizer_json.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace cornerstone {

class JsonFields {
 public:
  JsonFields(const nlohmann::json& j, std::string where);

  template <typename Int>
    requires std::is_integral_v<Int>
  JsonFields& integer(const std::string& key, Int& dst) {
    return custom(key, [this, key, &dst](const nlohmann::json& v) {
      if (!v.is_number_integer()) fail(key, "expected an integer", v);
      // Range-checked: get<Int>() of 2^64 - 1 would silently be -1.
      const auto hi = static_cast<uint64_t>(std::numeric_limits<Int>::max());
      const auto lo = static_cast<int64_t>(std::numeric_limits<Int>::min());
      const int64_t x = v.get<int64_t>();
      const bool fits = v.is_number_unsigned() ? v.get<uint64_t>() <= hi : x >= lo && (x < 0 || static_cast<uint64_t>(x) <= hi);
      if (!fits) fail(key, "integer out of range", v);
      dst = v.get<Int>();
    });
  }
  JsonFields& number(const std::string& key, float& dst);
  JsonFields& boolean(const std::string& key, bool& dst);
  JsonFields& custom(const std::string& key, std::function<void(const nlohmann::json& value)> read);

  void read() const;
  // "<where>.<key>: <what>, got <value>" as a ValueError.
  [[noreturn]] void fail(const std::string& key, const std::string& what, const nlohmann::json& value) const;
  const std::string& where() const { return where_; }

 private:
  const nlohmann::json& j_;
  std::string where_;
  std::map<std::string, std::function<void(const nlohmann::json&)>> fields_;
};

// Reading foreign config files (a Hugging Face config.json), whose many other keys are ignored: a
// missing or mistyped value is a FormatError naming `source` and the key.
int64_t required_integer(const nlohmann::json& j, const char* key, const std::string& source);
// `fallback` when the key is absent or null.
float optional_number(const nlohmann::json& j, const char* key, double fallback, const std::string& source);

namespace json {

using Json = nlohmann::json;

// "path.key" (or just "key" at the root, path "").
std::string child_path(const std::string& path, std::string_view key);
std::string index_path(const std::string& path, size_t index);

// FormatError "<path>: <message>" ("(root)" for the empty path).
[[noreturn]] void fail(const std::string& path, const std::string& message);

const Json& field(const Json& object, std::string_view key, const std::string& path);
// nullptr when the key is absent or null.
const Json* optional_field(const Json& object, std::string_view key, const std::string& path);

const Json& as_object(const Json& value, const std::string& path);
const Json& as_array(const Json& value, const std::string& path);
std::string as_string(const Json& value, const std::string& path);
bool as_bool(const Json& value, const std::string& path);
int64_t as_int(const Json& value, const std::string& path);
int32_t as_id(const Json& value, const std::string& path);  // 0 <= id < 2^31

std::string get_string(const Json& object, std::string_view key, const std::string& path);
bool get_bool(const Json& object, std::string_view key, const std::string& path, bool fallback);
std::optional<std::string> get_optional_string(const Json& object, std::string_view key, const std::string& path);

// A short description of a JSON value's type for messages: "number", "array", ...
std::string type_name(const Json& value);

}  // namespace json

}  // namespace cornerstone

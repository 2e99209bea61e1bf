#include "tokenize/json_fields.h"

#include <limits>

#include "cornerstone/core/error.h"

namespace cornerstone::tokenize {

std::string child_path(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string index_path(const std::string& path, size_t index) { return path + "[" + std::to_string(index) + "]"; }

void fail(const std::string& path, const std::string& message) {
  throw FormatError("tokenizer.json: " + (path.empty() ? std::string("(root)") : path) + ": " + message);
}

std::string type_name(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::object: return "object";
    case Json::value_t::array: return "array";
    case Json::value_t::string: return "string";
    case Json::value_t::boolean: return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "integer";
    case Json::value_t::number_float: return "number";
    default: return "value";
  }
}

const Json& as_object(const Json& value, const std::string& path) {
  if (!value.is_object()) fail(path, "expected an object, got " + type_name(value));
  return value;
}

const Json& field(const Json& object, std::string_view key, const std::string& path) {
  as_object(object, path);
  auto it = object.find(key);
  if (it == object.end()) fail(path, "missing required field '" + std::string(key) + "'");
  return *it;
}

const Json* optional_field(const Json& object, std::string_view key, const std::string& path) {
  as_object(object, path);
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

const Json& as_array(const Json& value, const std::string& path) {
  if (!value.is_array()) fail(path, "expected an array, got " + type_name(value));
  return value;
}

std::string as_string(const Json& value, const std::string& path) {
  if (!value.is_string()) fail(path, "expected a string, got " + type_name(value));
  return value.get<std::string>();
}

bool as_bool(const Json& value, const std::string& path) {
  if (!value.is_boolean()) fail(path, "expected true or false, got " + type_name(value));
  return value.get<bool>();
}

int64_t as_int(const Json& value, const std::string& path) {
  if (!value.is_number_integer()) fail(path, "expected an integer, got " + type_name(value));
  return value.get<int64_t>();
}

int32_t as_id(const Json& value, const std::string& path) {
  const int64_t v = as_int(value, path);
  if (v < 0 || v > std::numeric_limits<int32_t>::max())
    fail(path, "token id " + std::to_string(v) + " is out of range [0, 2^31)");
  return static_cast<int32_t>(v);
}

std::string get_string(const Json& object, std::string_view key, const std::string& path) {
  return as_string(field(object, key, path), child_path(path, key));
}

bool get_bool(const Json& object, std::string_view key, const std::string& path, bool fallback) {
  const Json* v = optional_field(object, key, path);
  return v ? as_bool(*v, child_path(path, key)) : fallback;
}

std::optional<std::string> get_optional_string(const Json& object, std::string_view key, const std::string& path) {
  const Json* v = optional_field(object, key, path);
  if (!v) return std::nullopt;
  return as_string(*v, child_path(path, key));
}

std::string component_type(const Json& object, const std::string& path) {
  return get_string(object, "type", path);
}

void unsupported_component(const std::string& path, std::string_view kind, std::string_view type,
                           std::string_view supported) {
  throw UnsupportedError("tokenizer.json: " + path + ": " + std::string(kind) + " type '" + std::string(type) +
                         "' is not supported by Cornerstone (supported: " + std::string(supported) + ")");
}

}  // namespace cornerstone::tokenize

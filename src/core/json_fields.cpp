#include "cornerstone/core/json_fields.h"

#include "cornerstone/core/error.h"

#include <cstdint>
#include <limits>

namespace cornerstone {

JsonFields::JsonFields(const nlohmann::json& j, std::string where) : j_(j), where_(std::move(where)) {
  if (!j.is_object()) throw ValueError(where_ + ": expected a JSON object");
}

JsonFields& JsonFields::number(const std::string& key, float& dst) {
  return custom(key, [this, key, &dst](const nlohmann::json& v) {
    if (!v.is_number()) fail(key, "expected a number", v);
    dst = v.get<float>();
  });
}

JsonFields& JsonFields::boolean(const std::string& key, bool& dst) {
  return custom(key, [this, key, &dst](const nlohmann::json& v) {
    if (!v.is_boolean()) fail(key, "expected true or false", v);
    dst = v.get<bool>();
  });
}

JsonFields& JsonFields::custom(const std::string& key, std::function<void(const nlohmann::json&)> read) {
  fields_[key] = std::move(read);
  return *this;
}

void JsonFields::read() const {
  for (auto it = j_.begin(); it != j_.end(); ++it) {
    const auto f = fields_.find(it.key());
    if (f == fields_.end()) {
      std::string known;
      for (const auto& [k, fn] : fields_) known += (known.empty() ? "" : ", ") + k;
      throw ValueError(where_ + ": unknown key '" + it.key() + "' (known: " + known + ")");
    }
    f->second(it.value());
  }
}

void JsonFields::fail(const std::string& key, const std::string& what, const nlohmann::json& value) const {
  throw ValueError(where_ + "." + key + ": " + what + ", got " + value.dump());
}

int64_t required_integer(const nlohmann::json& j, const char* key, const std::string& source) {
  if (!j.contains(key)) throw FormatError(source + ": missing key '" + key + "'");
  if (!j[key].is_number_integer()) throw FormatError(source + ": '" + key + "' must be an integer, got " + j[key].dump());
  if (j[key].is_number_unsigned() && j[key].get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    throw FormatError(source + ": '" + key + "' = " + j[key].dump() + " does not fit in 64 bits");
  return j[key].get<int64_t>();
}

float optional_number(const nlohmann::json& j, const char* key, double fallback, const std::string& source) {
  if (!j.contains(key) || j[key].is_null()) return static_cast<float>(fallback);
  if (!j[key].is_number()) throw FormatError(source + ": '" + key + "' must be a number, got " + j[key].dump());
  return j[key].get<float>();
}

namespace json {

std::string child_path(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string index_path(const std::string& path, size_t index) { return path + "[" + std::to_string(index) + "]"; }

void fail(const std::string& path, const std::string& message) {
  throw FormatError((path.empty() ? std::string("(root)") : path) + ": " + message);
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

}  // namespace json

}  // namespace cornerstone

#include "cornerstone/core/json_fields.h"

#include "cornerstone/core/error.h"

#include <cstdint>

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

}  // namespace cornerstone

// Typed access to tokenizer.json fields with errors that name the field (internal).
//
//   const Json& merges = field(model, "merges", "model");
//       // FormatError "tokenizer.json: model: missing required field 'merges'"
//   std::string s = as_string(merges[12], "model.merges[12]");
//       // FormatError "tokenizer.json: model.merges[12]: expected a string, got integer"
//
// Every error is a FormatError (UnsupportedError for unknown component types) whose message
// names the JSON path of the offending value.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cornerstone::tokenize {

// Parsing uses std::map objects (fast for 150k-entry vocabularies); writing keeps field order.
using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

// "path.key" (or just "key" at the root).
std::string child_path(const std::string& path, std::string_view key);
std::string index_path(const std::string& path, size_t index);

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

// The "type" tag of a component; `kind` names the component family for the error message.
std::string component_type(const Json& object, const std::string& path);

[[noreturn]] void unsupported_component(const std::string& path, std::string_view kind, std::string_view type,
                                        std::string_view supported);

// A short description of a JSON value's type for messages: "number", "array", ...
std::string type_name(const Json& value);

}  // namespace cornerstone::tokenize

// tokenizer.json components: the JSON aliases the tokenizer code uses, core's path-naming JSON
// access (core/json_fields.h) brought into this namespace, and the component "type" helpers
// (internal).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "cornerstone/core/json_fields.h"

namespace cornerstone::tokenize {

// Parsing uses std::map objects (fast for 150k-entry vocabularies); writing keeps field order.
using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

using json::as_array;
using json::as_bool;
using json::as_id;
using json::as_int;
using json::as_object;
using json::as_string;
using json::child_path;
using json::fail;
using json::field;
using json::get_bool;
using json::get_optional_string;
using json::get_string;
using json::index_path;
using json::optional_field;
using json::type_name;

// The "type" tag of a component.
std::string component_type(const Json& object, const std::string& path);

// UnsupportedError "<path>: <kind> type '<type>' is not supported by Cornerstone (supported: ...)".
[[noreturn]] void unsupported_component(const std::string& path, std::string_view kind, std::string_view type,
                                        std::string_view supported);

}  // namespace cornerstone::tokenize

// JSONL files: one JSON object per line (labelled task sets, image lists).
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace cornerstone::data {

// Calls f(object, where, line) for every non-empty line of `path`; `where` is "path:line" for
// messages. Throws IOError when the file cannot be opened, FormatError naming the line when one is
// not a JSON object.
void for_each_jsonl(const std::string& path,
                    const std::function<void(const nlohmann::json& object, const std::string& where, int64_t line)>& f);

}  // namespace cornerstone::data

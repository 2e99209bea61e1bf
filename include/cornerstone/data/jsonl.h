// JSON Lines input: one JSON object per line, blank lines skipped. Every labelled-data reader
// (adapt/task_data.h, the evaluation harness's task files) reads through here, so a bad line is
// reported the same way everywhere: "<file>:<line>: not a JSON object".
//
//   data::for_each_jsonl("train.jsonl", [&](const nlohmann::json& j, const std::string& where, int64_t line) {
//     std::string p = data::jsonl_string(j, "prompt", where);   // FormatError "train.jsonl:3: missing \"prompt\""
//   });
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace cornerstone::data {

// Calls f(object, "<path>:<line>", line) for every non-blank line (line numbers are 1-based).
// Throws IOError when the file cannot be opened, FormatError naming the line when a line is not a
// JSON object.
void for_each_jsonl(const std::string& path,
                    const std::function<void(const nlohmann::json& object, const std::string& where, int64_t line)>& f);

// j[key] as a string (an integer is taken as its decimal text). FormatError "<where>: missing
// \"key\"" or "<where>: \"key\" must be a string".
std::string jsonl_string(const nlohmann::json& j, const char* key, const std::string& where);
// j[key] as an array of strings; FormatError naming the key otherwise.
std::vector<std::string> jsonl_string_list(const nlohmann::json& j, const char* key, const std::string& where);

}  // namespace cornerstone::data

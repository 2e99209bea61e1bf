#include "cornerstone/data/jsonl.h"

#include <fstream>

#include "cornerstone/core/error.h"

namespace cornerstone::data {

void for_each_jsonl(const std::string& path,
                    const std::function<void(const nlohmann::json& object, const std::string& where, int64_t line)>& f) {
  std::ifstream in(path);
  if (!in) throw IOError("cannot open '" + path + "'");
  int64_t n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(n);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      throw FormatError(where + ": not a JSON object");
    }
    if (!j.is_object()) throw FormatError(where + ": not a JSON object");
    f(j, where, n);
  }
}

std::string jsonl_string(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key)) throw FormatError(where + ": missing \"" + key + "\"");
  if (j[key].is_string()) return j[key].get<std::string>();
  if (j[key].is_number_integer()) return std::to_string(j[key].get<int64_t>());
  throw FormatError(where + ": \"" + key + "\" must be a string");
}

std::vector<std::string> jsonl_string_list(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || !j[key].is_array()) throw FormatError(where + ": \"" + key + "\" must be an array of strings");
  std::vector<std::string> out;
  for (const auto& v : j[key]) {
    if (!v.is_string()) throw FormatError(where + ": \"" + key + "\" must be an array of strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace cornerstone::data

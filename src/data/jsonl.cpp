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

}  // namespace cornerstone::data

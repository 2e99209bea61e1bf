#include "cornerstone/adapt/task_data.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "cornerstone/core/error.h"
#include "cornerstone/data/jsonl.h"
#include "cornerstone/io/atomic_file.h"

namespace cornerstone::adapt {

namespace {

// Every non-empty line of a JSONL file as an object (data/jsonl.h).
template <typename F>
void for_each_line(const std::string& path, F f) {
  data::for_each_jsonl(path, f);
}

std::string string_field(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key)) throw FormatError(where + ": missing \"" + key + "\"");
  if (j[key].is_string()) return j[key].get<std::string>();
  if (j[key].is_number_integer()) return std::to_string(j[key].get<int64_t>());
  throw FormatError(where + ": \"" + key + "\" must be a string");
}

std::vector<std::string> string_list(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || !j[key].is_array()) throw FormatError(where + ": \"" + key + "\" must be an array of strings");
  std::vector<std::string> out;
  for (const auto& v : j[key]) {
    if (!v.is_string()) throw FormatError(where + ": \"" + key + "\" must be an array of strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

template <typename T>
void require_some(const std::vector<T>& v, const std::string& path) {
  if (v.empty()) throw ValueError("'" + path + "' has no examples");
}

}  // namespace

std::vector<ClassificationExample> read_classification(const std::string& path) {
  std::vector<ClassificationExample> out;
  for_each_line(path, [&](const nlohmann::json& j, const std::string& where, int64_t line) {
    ClassificationExample e{string_field(j, "text", where), string_field(j, "label", where), std::nullopt, line};
    if (j.contains("text_pair")) e.text_pair = string_field(j, "text_pair", where);
    out.push_back(std::move(e));
  });
  require_some(out, path);
  return out;
}

std::vector<TaggingExample> read_tagging(const std::string& path) {
  std::vector<TaggingExample> out;
  for_each_line(path, [&](const nlohmann::json& j, const std::string& where, int64_t line) {
    TaggingExample e{string_list(j, "tokens", where), string_list(j, "tags", where), line};
    if (e.tokens.size() != e.tags.size())
      throw FormatError(where + ": " + std::to_string(e.tokens.size()) + " tokens but " + std::to_string(e.tags.size()) + " tags");
    if (e.tokens.empty()) throw FormatError(where + ": no tokens");
    out.push_back(std::move(e));
  });
  require_some(out, path);
  return out;
}

std::vector<InstructionExample> read_instructions(const std::string& path) {
  std::vector<InstructionExample> out;
  for_each_line(path, [&](const nlohmann::json& j, const std::string& where, int64_t line) {
    InstructionExample e{string_field(j, "prompt", where), string_field(j, "response", where), "", line};
    if (j.contains("system")) e.system = string_field(j, "system", where);
    if (e.response.empty()) throw FormatError(where + ": \"response\" is empty (there is nothing to learn from)");
    out.push_back(std::move(e));
  });
  require_some(out, path);
  return out;
}

std::vector<RetrievalPair> read_retrieval_pairs(const std::string& path) {
  std::vector<RetrievalPair> out;
  for_each_line(path, [&](const nlohmann::json& j, const std::string& where, int64_t line) {
    RetrievalPair p{string_field(j, "query", where), string_field(j, "positive", where), line, ""};
    if (j.contains("negative") && !j["negative"].is_null()) p.negative = string_field(j, "negative", where);
    out.push_back(std::move(p));
  });
  require_some(out, path);
  return out;
}

void write_rerank_pairs(const std::string& triples, const std::string& out) {
  std::string text;
  bool any_negative = false;
  for (const auto& p : read_retrieval_pairs(triples)) {
    text += nlohmann::json{{"text", p.query}, {"text_pair", p.positive}, {"label", kRelevant}}.dump() + "\n";
    if (p.negative.empty()) continue;
    text += nlohmann::json{{"text", p.query}, {"text_pair", p.negative}, {"label", kIrrelevant}}.dump() + "\n";
    any_negative = true;
  }
  if (!any_negative)
    throw ValueError(triples + ": a reranker learns to tell relevant passages from irrelevant ones; give some lines a \"negative\"");
  io::write_file_atomic(out, text);
}

std::vector<std::string> label_set(const std::vector<ClassificationExample>& examples) {
  std::set<std::string> s;
  for (const auto& e : examples) s.insert(e.label);
  return {s.begin(), s.end()};
}

std::vector<std::string> tag_set(const std::vector<TaggingExample>& examples) {
  std::set<std::string> s;
  for (const auto& e : examples) s.insert(e.tags.begin(), e.tags.end());
  return {s.begin(), s.end()};
}

std::vector<std::string> read_label_list(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IOError("cannot open '" + path + "'");
  std::set<std::string> s;
  int64_t n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    const size_t a = line.find_first_not_of(" \t\r"), b = line.find_last_not_of(" \t\r");
    if (a == std::string::npos) continue;
    if (!s.insert(line.substr(a, b - a + 1)).second)
      throw FormatError(path + ":" + std::to_string(n) + ": label '" + line.substr(a, b - a + 1) + "' is listed twice");
  }
  if (s.size() < 2) throw FormatError(path + ": a label set needs at least 2 labels, found " + std::to_string(s.size()));
  return {s.begin(), s.end()};
}

}  // namespace cornerstone::adapt

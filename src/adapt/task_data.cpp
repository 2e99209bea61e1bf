#include "cornerstone/adapt/task_data.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "cornerstone/core/error.h"
#include "cornerstone/data/jsonl.h"
#include "cornerstone/io/atomic_file.h"

namespace cornerstone::adapt {

namespace {

using data::for_each_jsonl;
using data::jsonl_string;
using data::jsonl_string_list;

template <typename T>
void require_some(const std::vector<T>& v, const std::string& path) {
  if (v.empty()) throw ValueError("'" + path + "' has no examples");
}

}  // namespace

std::vector<ClassificationExample> read_classification(const std::string& path) {
  std::vector<ClassificationExample> out;
  for_each_jsonl(path, [&](const nlohmann::json& j, const std::string& where, int64_t line) {
    ClassificationExample e{jsonl_string(j, "text", where), jsonl_string(j, "label", where), std::nullopt, line};
    if (j.contains("text_pair")) e.text_pair = jsonl_string(j, "text_pair", where);
    out.push_back(std::move(e));
  });
  require_some(out, path);
  return out;
}

std::vector<TaggingExample> read_tagging(const std::string& path) {
  std::vector<TaggingExample> out;
  for_each_jsonl(path, [&](const nlohmann::json& j, const std::string& where, int64_t line) {
    TaggingExample e{jsonl_string_list(j, "tokens", where), jsonl_string_list(j, "tags", where), line};
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
  for_each_jsonl(path, [&](const nlohmann::json& j, const std::string& where, int64_t line) {
    InstructionExample e{jsonl_string(j, "prompt", where), jsonl_string(j, "response", where), "", line};
    if (j.contains("system")) e.system = jsonl_string(j, "system", where);
    if (e.response.empty()) throw FormatError(where + ": \"response\" is empty (there is nothing to learn from)");
    out.push_back(std::move(e));
  });
  require_some(out, path);
  return out;
}

std::vector<AnswerExample> read_answers(const std::string& path) {
  std::vector<AnswerExample> out;
  for_each_jsonl(path, [&](const nlohmann::json& j, const std::string& where, int64_t line) {
    AnswerExample e{jsonl_string(j, "prompt", where), jsonl_string(j, "answer", where), line};
    if (e.answer.find_first_not_of(" \t\r\n") == std::string::npos) throw FormatError(where + ": \"answer\" is empty");
    out.push_back(std::move(e));
  });
  require_some(out, path);
  return out;
}

std::vector<RetrievalPair> read_retrieval_pairs(const std::string& path) {
  std::vector<RetrievalPair> out;
  for_each_jsonl(path, [&](const nlohmann::json& j, const std::string& where, int64_t line) {
    RetrievalPair p{jsonl_string(j, "query", where), jsonl_string(j, "positive", where), line, ""};
    if (j.contains("negative") && !j["negative"].is_null()) p.negative = jsonl_string(j, "negative", where);
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

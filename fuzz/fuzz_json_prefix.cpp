// response_format json_object's automaton (infer/json_constraint.h), differentially: for any
// bytes, JsonPrefix must call them a closed object exactly when nlohmann::json parses them as an
// object (with no blank run or nesting past the automaton's limits, and nothing after the object),
// and every prefix of an accepted text must be accepted too. A disagreement aborts.
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "cornerstone/infer/json_constraint.h"
#include "fuzz_util.h"

using namespace cornerstone;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string s(reinterpret_cast<const char*>(data), size);
  infer::JsonPrefix p;
  size_t accepted = 0;  // bytes the automaton took before refusing one
  while (accepted < s.size() && p.push(s[accepted])) ++accepted;
  const bool closed = accepted == s.size() && p.complete();
  // No JSON text holds a NUL byte (nlohmann's parser stops reading at one, so it is not asked).
  if (s.find('\0') != std::string::npos) {
    if (closed) std::abort();
    return 0;
  }
  // Within the automaton's limits, nlohmann is the judge.
  int run = 0, depth = 0, max_run = 0, max_depth = 0;
  bool in_string = false, escaped = false;
  for (char c : s) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    run = (c == ' ' || c == '\t' || c == '\n' || c == '\r') ? run + 1 : 0;
    depth += (c == '{' || c == '[') - (c == '}' || c == ']');
    max_run = std::max(max_run, run), max_depth = std::max(max_depth, depth);
  }
  if (max_run > infer::JsonPrefix::kMaxBlanks || max_depth > infer::JsonPrefix::kMaxDepth) return 0;
  // RFC 8259's grammar allows a lone surrogate escape ("\ud800"), as JavaScript and Python read
  // it; nlohmann refuses it. The automaton follows the grammar: such texts are not compared.
  for (size_t i = 0; i + 2 < s.size(); ++i)
    if (s[i] == '\\' && s[i + 1] == 'u' && (s[i + 2] == 'd' || s[i + 2] == 'D')) return 0;
  if (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) return 0;  // ends at its brace
  bool object = false;
  try {
    object = nlohmann::json::parse(s).is_object();
  } catch (const nlohmann::json::out_of_range&) {
    return 0;  // a number beyond double's range: valid grammar (Python reads inf), refused by nlohmann
  } catch (const nlohmann::json::exception&) {
  }
  if (object != closed) std::abort();
  if (object)  // every prefix of a valid object continues
    for (size_t n = 0; n < s.size(); ++n) {
      infer::JsonPrefix q;
      if (!q.push(std::string_view(s).substr(0, n))) std::abort();
    }
  fuzz::g_sink += accepted;
  return 0;
}

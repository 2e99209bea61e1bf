#include "interop/gguf_pretokenizers.h"

namespace cornerstone::interop::gguf_pre {

namespace {
// Regexes as Hugging Face tokenizer.json files write them (Split pattern.Regex). The
// contractions are written either case-insensitively or with explicit character classes.
constexpr const char* kContractionsCI = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
constexpr const char* kContractionsExpanded = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
constexpr const char* kQwen2Tail = "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kLlama3Tail = "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
}  // namespace

const char* const kGpt2Regex = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

std::string name_of_regex(const std::string& r) {
  if (r == kGpt2Regex) return "gpt-2";
  for (const char* c : {kContractionsCI, kContractionsExpanded}) {
    if (r == std::string(c) + kQwen2Tail) return "qwen2";
    if (r == std::string(c) + kLlama3Tail) return "llama-bpe";
  }
  return "";
}

std::string regex_of_name(const std::string& name) {
  if (name == "gpt-2") return kGpt2Regex;
  if (name == "qwen2") return std::string(kContractionsCI) + kQwen2Tail;
  if (name == "llama-bpe" || name == "llama3") return std::string(kContractionsCI) + kLlama3Tail;
  return "";
}

}  // namespace cornerstone::interop::gguf_pre

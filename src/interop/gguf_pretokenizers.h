// The pre-tokenizer regexes llama.cpp knows by name (tokenizer.ggml.pre), shared by the GGUF
// tokenizer export and import. Internal to src/models.
#pragma once

#include <string>

namespace cornerstone::interop::gguf_pre {

inline const std::string kMetaspace = "\xe2\x96\x81";  // "▁", SentencePiece's space

// GPT-2's regex (what a ByteLevel pre-tokenizer with use_regex applies).
extern const char* const kGpt2Regex;
// llama.cpp's name for a Split regex ("gpt-2", "qwen2", "llama-bpe"), or "" when unknown.
std::string name_of_regex(const std::string& regex);
// The Split regex for a llama.cpp pre-tokenizer name, or "" when Cornerstone does not know it.
std::string regex_of_name(const std::string& name);

}  // namespace cornerstone::interop::gguf_pre

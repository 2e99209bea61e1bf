// Pieces of a Hugging Face model folder that do not depend on the family: the special token ids
// of config.json and generation_config.json, torch_dtype names, tokenizer_config.json.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>

#include "cornerstone/core/dtype.h"
#include "cornerstone/tokenize/tokenizer.h"

namespace cornerstone::interop {

// The special tokens a config.json / generation_config.json refers to (absent ones are omitted).
struct HfSpecialTokens {
  std::optional<int32_t> bos, eos, pad;
};
HfSpecialTokens special_tokens(const tokenize::Tokenizer* t);  // none without a tokenizer
// Adds bos_token_id / eos_token_id (/ pad_token_id) to a config.json.
void add_hf_special_tokens(nlohmann::json& config, const HfSpecialTokens& tokens);
// generation_config.json as transformers writes it: the special token ids.
nlohmann::json hf_generation_config(const HfSpecialTokens& tokens);
// config.json's torch_dtype for a checkpoint type: "float32", "bfloat16", "float16"; throws
// UnsupportedError for any other type.
const char* torch_dtype_name(DType t);
// tokenizer_config.json for transformers' AutoTokenizer: the fast tokenizer from tokenizer.json
// and the names of its special tokens.
nlohmann::json tokenizer_config(const tokenize::Tokenizer& t, int64_t context);

}  // namespace cornerstone::interop

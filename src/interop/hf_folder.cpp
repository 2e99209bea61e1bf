#include "cornerstone/interop/hf_folder.h"

#include <string>

#include "cornerstone/core/error.h"

namespace cornerstone::interop {

HfSpecialTokens special_tokens(const tokenize::Tokenizer* t) {
  if (!t) return {};
  return {t->bos_id(), t->eos_id(), t->pad_id()};
}

void add_hf_special_tokens(nlohmann::json& config, const HfSpecialTokens& tokens) {
  if (tokens.bos) config["bos_token_id"] = *tokens.bos;
  if (tokens.eos) config["eos_token_id"] = *tokens.eos;
  if (tokens.pad) config["pad_token_id"] = *tokens.pad;
}

nlohmann::json hf_generation_config(const HfSpecialTokens& tokens) {
  nlohmann::json j = nlohmann::json::object();
  add_hf_special_tokens(j, tokens);
  j["_from_model_config"] = true;
  return j;
}

const char* torch_dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "float32";
    case DType::BF16: return "bfloat16";
    case DType::F16: return "float16";
    default: throw UnsupportedError("Hugging Face checkpoints hold f32, bf16 or f16 weights, not " + std::string(dtype_name(t)));
  }
}

nlohmann::json tokenizer_config(const tokenize::Tokenizer& t, int64_t context) {
  nlohmann::json j = {{"tokenizer_class", "PreTrainedTokenizerFast"},
                      {"model_max_length", context},
                      {"clean_up_tokenization_spaces", false}};
  auto name = [&](const char* key, std::optional<int32_t> id) {
    if (id) j[key] = t.id_to_token(*id);
  };
  name("bos_token", t.bos_id());
  name("eos_token", t.eos_id());
  name("unk_token", t.unk_id());
  name("pad_token", t.pad_id());
  return j;
}

}  // namespace cornerstone::interop

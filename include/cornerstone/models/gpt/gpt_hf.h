// The Hugging Face layouts of GPT: tensor names, tensor layouts and dtypes, config.json and
// generation_config.json.
//
//   GPT-2 (GPT2LMHeadModel): transformer.wte / wpe / h.<i>.{ln_1, attn.c_attn, attn.c_proj, ln_2,
//     mlp.c_fc, mlp.c_proj} / ln_f; Conv1D weights are stored (in, out), i.e. transposed relative to
//     Cornerstone's (out, in); lm_head is tied to wte and not stored.
//   Llama / Qwen (LlamaForCausalLM): model.embed_tokens / layers.<i>.{input_layernorm,
//     self_attn.{q,k,v,o}_proj, post_attention_layernorm, mlp.{gate,up,down}_proj} / norm, lm_head;
//     Cornerstone's fused qkv and gate_up weights are split into the separate projections.
//
// Checkpoints saved by GPT2Model (rather than GPT2LMHeadModel), such as the original gpt2
// upload, name the tensors without the "transformer." prefix; loading accepts both.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cornerstone/core/dtype.h"
#include "cornerstone/core/tensor.h"
#include "cornerstone/models/gpt/gpt.h"

namespace cornerstone::models {

// Every tensor of the Hugging Face layout of `cfg`, in checkpoint order (HfTensor: models/family.h;
// also DecoderConfig::hf_tensors()).
std::vector<HfTensor> hf_tensors(const DecoderConfig& cfg);


// The model's weights under Hugging Face names and layouts (new contiguous tensors), in `dtype`
// (f32, bf16 or f16).
std::vector<std::pair<std::string, Tensor>> hf_state_dict(const GPT& model, DType dtype = DType::F32);

// The Hugging Face tensor names a config implies, in state-dict order.
std::vector<std::string> hf_tensor_names(const DecoderConfig& cfg);
// The names in `present` that the config does not account for: tensors a load would silently
// drop (attention biases of a Qwen2 checkpoint, an extra layer, ...). Buffers that transformers
// stores beside the weights (GPT-2's attn.bias / attn.masked_bias causal masks, rotary
// inv_freq) and a stored copy of a tied lm_head are not counted.
std::vector<std::string> unexpected_hf_tensors(const DecoderConfig& cfg, const std::vector<std::string>& present);

// Copies Hugging Face-named tensors into the model (converting layouts and dtypes). `get(name)`
// returns the tensor or an undefined one when absent. Throws FormatError naming a missing tensor
// or a shape mismatch.
void load_hf_state_dict(GPT& model, const std::function<Tensor(const std::string&)>& get, const std::string& source);

// config.json as transformers writes it for GPT2LMHeadModel / LlamaForCausalLM; torch_dtype
// names `dtype` ("float32", "bfloat16", "float16").
nlohmann::json hf_config(const DecoderConfig& cfg, DType dtype = DType::F32);

// The DecoderConfig a config.json describes; throws FormatError / UnsupportedError naming the key.
DecoderConfig config_from_hf(const nlohmann::json& j, const std::string& source = "config.json");

}  // namespace cornerstone::models

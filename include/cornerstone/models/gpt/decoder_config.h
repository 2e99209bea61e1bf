// DecoderConfig: one description for the decoder-only language models Cornerstone trains.
//
//   GPT-2 family: learned positions, LayerNorm, GELU (tanh), biases, tied input/output embeddings.
//   Llama/Qwen family: rotary positions, RMSNorm, SwiGLU, grouped-query attention, no biases,
//   untied LM head.
//
// Configs are JSON objects; presets name common shapes ("gpt2-tiny", "gpt2-small", "llama-tiny", ...).
// Unknown keys and wrong types are errors naming the key.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cornerstone/models/family.h"
#include "cornerstone/nn/transformer.h"

namespace cornerstone::models {

enum class DecoderArch { GPT2, Llama };

// The decoder family (models/gpt/family.cpp registers it).
const Family& gpt_family();

struct DecoderConfig : ModelConfig {
  DecoderArch arch = DecoderArch::GPT2;
  int64_t vocab_size = 50257;
  int64_t context = 256;  // maximum sequence length (position table / rotary table size)
  int64_t n_layers = 6;
  int64_t d_model = 384;
  int64_t n_heads = 6;
  int64_t n_kv_heads = 6;
  int64_t d_ff = 1536;
  float norm_eps = 1e-5f;
  float rope_theta = 10000.0f;  // Llama family only
  bool tie_embeddings = true;
  float dropout = 0.0f;
  float init_std = 0.02f;

  int64_t head_dim() const { return d_model / n_heads; }
  bool learned_positions() const { return arch == DecoderArch::GPT2; }
  nn::BlockConfig block() const;
  // Parameter count of the model this config describes (tied embeddings counted once).
  int64_t num_parameters() const override;
  // Matmul FLOPs per token of a forward+backward pass: 6 N (non-embedding params + LM head) plus
  // attention 12 L T C / 2 (causal), the usual MFU accounting. The LM head runs on every row, so
  // `predicted` does not change it.
  double train_flops_per_token(int64_t seq_len, double predicted = 1.0) const override;

  // ModelConfig
  const Family& family() const override { return gpt_family(); }
  std::unique_ptr<ModelConfig> clone() const override { return std::make_unique<DecoderConfig>(*this); }
  std::string model_type() const override;  // "gpt2" / "llama"
  int64_t vocabulary_size() const override { return vocab_size; }
  int64_t max_positions() const override { return context; }
  nlohmann::json hf_config() const override;  // float32 (models/gpt/gpt_hf.h for other dtypes)
  std::unique_ptr<PretrainedModel> create(uint64_t seed, bool random_init = true) const override;
  // GPT-2 and Llama are both plain decoder stacks: the inference runner needs nothing else.
  std::optional<DecoderStack> decoder_stack() const override;
  std::vector<HfTensor> hf_tensors() const override;  // models/gpt/gpt_hf.h

  // Throws ValueError naming the field when the numbers do not describe a valid model.
  void validate() const override;
  nlohmann::json to_json() const override;
  // Keys not given keep the defaults of `base`; unknown keys and bad types throw naming the key.
  static DecoderConfig from_json(const nlohmann::json& j, const DecoderConfig& base, const std::string& where);
  static DecoderConfig from_json(const nlohmann::json& j);
  static DecoderConfig preset(const std::string& name);  // throws ValueError listing the presets
  static std::vector<std::string> preset_names();
};

std::string arch_name(DecoderArch a);

}  // namespace cornerstone::models

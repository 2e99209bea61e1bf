// DecoderStack: a decoder-only language model built from standard blocks (nn/transformer.h),
// described for the inference runner. A family whose config returns one (ModelConfig::
// decoder_stack()) generates with a KV cache and packed quantized weights without a runner of its
// own: infer::InferenceWeights packs the weights by these parameter names, from the model itself
// or straight from a quantized folder through the family's Hugging Face table, and
// infer::DecoderRunner runs them.
//
//   ids -> token_embedding (+ rows of position_embedding: learned positions) -> n_layers blocks
//   (rotary positions when rope_theta > 0) -> final norm (the blocks' norm kind and eps) -> lm_head
//
//   GPT-2: {token_embedding "wte.weight", position_embedding "wpe.weight", blocks "blocks.",
//           final_norm "norm_f.", lm_head "wte.weight" (tied)}, LayerNorm / GELU / biases
//   Llama: {"wte.weight", no position table, rope_theta 10000, ..., lm_head "lm_head.weight"}
//
// Block i's parameters are blocks + i + "." + the stable block names (attn.qkv.weight, mlp.fc.bias,
// ...); a bias or norm bias is used when the model has it.
#pragma once

#include <cstdint>
#include <string>

#include "cornerstone/nn/block_config.h"

namespace cornerstone::models {

struct DecoderStack {
  int64_t vocab_size = 0;
  int64_t context = 0;   // the longest sequence: position table / rotary table size
  int64_t n_layers = 0;
  nn::BlockConfig block; // every block's spec (the runner takes pre-norm, causal, no cross-attention, MLP)
  float rope_theta = 0;  // rotary positions when > 0
  std::string token_embedding = "wte.weight";  // (V, C)
  std::string position_embedding;              // (context, C) learned positions, or empty
  std::string blocks = "blocks.";
  std::string final_norm = "norm_f.";          // + "weight" / "bias"
  std::string lm_head = "lm_head.weight";      // (V, C); the token embedding's name when tied

  bool tied() const { return lm_head == token_embedding; }
  int64_t kv_width() const { return block.n_kv_heads * block.head_dim; }
};

}  // namespace cornerstone::models

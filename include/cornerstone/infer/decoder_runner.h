// Inference forward pass of a decoder stack with a KV cache: prompt processing and decoding are the
// same call. The runner knows no family: norm kind, MLP kind, biases and learned vs rotary
// positions come from the stack's block spec (models/decoder_stack.h), so every family whose config
// describes a decoder stack of standard blocks (GPT-2, Llama, and the next one) runs here, with the
// same numerics as its training forward pass (nn::TransformerBlock). Each call takes, for some cache slots, the new tokens of that sequence; all their rows
// go through the linear layers together (one packed matmul per weight for the whole batch:
// kernels/packed_matmul.h), attention runs per sequence against its cached keys and values, and
// the logits of each sequence's last new token come back.
//
//   DecoderRunner run(weights);                                         // infer/inference_weights.h
//   KVCache cache(weights.config(), /*slots=*/2, /*max_len=*/512);
//   Tensor logits = run.forward(cache, {{0, prompt_a}, {1, prompt_b}});  // (2, V)
//   logits = run.forward(cache, {{0, {next_a}}, {1, {next_b}}});          // one token each
//
// A row's logits do not depend on which other sequences share the call (the packed matmul's
// batch invariance, and attention per sequence), so greedy decoding alone and in a batch agree.
// A whole pass runs in one OpenMP region whose threads share every op (a decode step has ~60).
// A runner keeps its activation buffers between calls: one runner per thread. LoRA adapters added
// with add_lora() apply to the rows of the chunks that name them (infer/lora_deltas.h), so requests
// for different adapters of one base decode in one batch.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "cornerstone/core/tensor.h"
#include "cornerstone/infer/inference_weights.h"
#include "cornerstone/infer/kv_cache.h"
#include "cornerstone/infer/lora_deltas.h"

namespace cornerstone::infer {

struct SeqChunk {
  int64_t slot;
  std::span<const int32_t> tokens;  // appended after the slot's cached positions
  int32_t lora = -1;                // add_lora()'s index of the adapter these rows use; -1: the base
};

class DecoderRunner {
 public:
  explicit DecoderRunner(const InferenceWeights& weights);

  // Appends each chunk to its slot and returns (chunks, V) logits of each chunk's last token.
  // Throws ShapeError when a sequence would exceed the cache or the model's context, ValueError
  // for a token outside the vocabulary or an empty chunk.
  Tensor forward(KVCache& cache, const std::vector<SeqChunk>& chunks);
  // The same pass, returning the logits of every new row (rows of all chunks in order, V): scoring.
  Tensor forward_all(KVCache& cache, const std::vector<SeqChunk>& chunks);

  const InferenceWeights& weights() const { return weights_; }

  // Adds an adapter of these weights and returns the index chunks name it by. ShapeError when its
  // terms do not fit the weights.
  int32_t add_lora(LoRADeltas deltas);
  int32_t lora_count() const { return static_cast<int32_t>(loras_.size()); }

 private:
  // The pass: logits of every new row (all_rows) or of each chunk's last row.
  Tensor run(KVCache& cache, const std::vector<SeqChunk>& chunks, bool all_rows);

  InferenceWeights weights_;
  std::vector<LoRADeltas> loras_;
  // Activation buffers, grown to the largest batch seen: (R, C) x2 and (R, width) for the rest,
  // and the packed matmuls' shared scratch.
  Tensor x_, h_, qkv_, att_, up_, act_, scratch_, lora_tmp_;
};

}  // namespace cornerstone::infer

// Inference forward pass of a decoder with a KV cache: prompt processing and decoding are the
// same call. Each call takes, for some cache slots, the new tokens of that sequence; all their rows
// go through the linear layers together (one GEMM per weight for the whole batch), attention runs
// per sequence against its cached keys and values, and the logits of each sequence's last new
// token come back.
//
//   DecoderRunner run(model);
//   KVCache cache(model.config(), /*slots=*/2, /*max_len=*/512);
//   Tensor logits = run.forward(cache, {{0, prompt_a}, {1, prompt_b}});  // (2, V)
//   logits = run.forward(cache, {{0, {next_a}}, {1, {next_b}}});          // one token each
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "cornerstone/core/tensor.h"
#include "cornerstone/infer/kv_cache.h"
#include "cornerstone/models/gpt.h"

namespace cornerstone::infer {

struct SeqChunk {
  int64_t slot;
  std::span<const int32_t> tokens;  // appended after the slot's cached positions
};

class DecoderRunner {
 public:
  explicit DecoderRunner(const models::GPT& model);

  // Appends each chunk to its slot and returns (chunks, V) logits of each chunk's last token.
  // Throws ShapeError when a sequence would exceed the cache or the model's context.
  Tensor forward(KVCache& cache, const std::vector<SeqChunk>& chunks) const;

  const models::GPT& model() const { return model_; }

 private:
  const models::GPT& model_;
};

}  // namespace cornerstone::infer

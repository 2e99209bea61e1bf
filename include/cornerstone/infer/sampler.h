// Next-token sampling from logits.
//
// Order of operations (as in Hugging Face's logits processors): repetition penalty (divide positive
// / multiply negative logits of tokens already seen), presence penalty (subtract from seen tokens),
// temperature, then the top-k, top-p (nucleus) and min-p filters, each renormalising over what it
// keeps, then a draw. `greedy` (or temperature 0) takes the arg-max after the penalties.
//
// Cost per token: one vectorised softmax over the vocabulary; top-k selects without sorting the
// rest, top-p sorts only the prefix it needs (a few hundred tokens of a peaked distribution). Ties
// break by token id, so the same logits and generator state always give the same token.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "cornerstone/core/rng.h"

namespace cornerstone::infer {

struct SamplingParams {
  float temperature = 0.8f;
  int64_t top_k = 0;               // 0: off
  float top_p = 1.0f;              // 1: off
  float min_p = 0.0f;              // 0: off; keep tokens with p >= min_p * p_max
  float repetition_penalty = 1.0f; // 1: off
  float presence_penalty = 0.0f;   // 0: off
  bool greedy = false;

  // Throws ValueError naming the parameter when a value is out of range.
  void validate() const;
};

// Picks a token id from logits (V). `history` are the ids seen so far (prompt and generated), for
// the penalties. Deterministic given the generator's state.
int32_t sample_token(std::span<const float> logits, const SamplingParams& params, std::span<const int32_t> history,
                     Rng& rng);

}  // namespace cornerstone::infer

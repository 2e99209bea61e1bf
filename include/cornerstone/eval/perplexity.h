// Loss and perplexity of inference weights in any format (infer/inference_weights.h) on a token
// split: the windows of eval::evaluate_loss (consecutive, non-overlapping, seq_len + 1 tokens
// each predicting its last seq_len), scored through the inference forward pass. With f32 weights
// it agrees with eval::evaluate_loss to fp32 rounding, so formats compare like for like.
#pragma once

#include <cstdint>

#include "cornerstone/data/token_shards.h"
#include "cornerstone/infer/inference_weights.h"
#include "cornerstone/eval/loss.h"

namespace cornerstone::eval {

// max_tokens <= 0: the whole split. Throws ValueError for a window longer than the model's context
// or a vocabulary mismatch.
eval::EvalResult evaluate_perplexity(const infer::InferenceWeights& weights, const data::TokenDataset& data, int64_t seq_len,
                                      int64_t batch, int64_t max_tokens = 0);

}  // namespace cornerstone::eval

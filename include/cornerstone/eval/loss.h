// Loss and perplexity of a language model on a token split: consecutive non-overlapping windows
// of seq_len + 1 tokens, each predicting its last seq_len tokens, in batches.
#pragma once

#include <cstdint>

#include "cornerstone/data/token_shards.h"
#include "cornerstone/models/gpt/gpt.h"

namespace cornerstone::eval {

struct EvalResult {
  double loss = 0;        // mean cross-entropy, nats per token
  double perplexity = 0;  // exp(loss)
  int64_t tokens = 0;     // tokens predicted
};

// max_tokens <= 0: the whole split.
EvalResult evaluate_loss(const models::GPT& model, const data::TokenDataset& data, int64_t seq_len, int64_t batch,
                         int64_t max_tokens = 0);

}  // namespace cornerstone::eval

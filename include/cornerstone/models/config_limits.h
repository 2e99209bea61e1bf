// Plausibility limits on the integers of a model config, checked before anything is allocated
// from them: configs come from downloaded config.json files and GGUF headers, and a corrupt or
// hostile one must fail with a message naming the key and the limit, not with a 4-TB allocation
// or a wrapped-around size. The limits sit far above any model a CPU engine runs (Llama-3-405B:
// d_model 16384, d_ff 53248, 126 layers, 128k vocabulary) and far enough below 2^63 that every
// product the config computes (parameters, FLOPs) stays exact in int64:
// n_layers x (3 d_model^2 + 3 d_model d_ff) <= 2^12 x 2^37 and vocab x d_model <= 2^40.
#pragma once

#include <cstdint>

namespace cornerstone::models {

inline constexpr int64_t kMaxVocabSize = int64_t{1} << 24;
inline constexpr int64_t kMaxContext = int64_t{1} << 24;
inline constexpr int64_t kMaxLayers = int64_t{1} << 12;
inline constexpr int64_t kMaxModelWidth = int64_t{1} << 16;  // d_model
inline constexpr int64_t kMaxHeads = int64_t{1} << 12;
inline constexpr int64_t kMaxFeedForward = int64_t{1} << 18;  // d_ff
inline constexpr int64_t kMaxTypeVocabSize = int64_t{1} << 16;

}  // namespace cornerstone::models

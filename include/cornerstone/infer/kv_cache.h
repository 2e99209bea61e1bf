// The key/value cache of a decoder stack (models/decoder_stack.h): for every layer and every sequence slot, the keys and values
// of all positions processed so far, preallocated for `max_len` positions.
//
//   layout per layer: (slots, max_len, n_kv_heads * head_dim), keys and values separately
//
// A slot holds one sequence; slots advance independently, so sequences of different lengths are
// decoded together (batched decoding) and a finished slot is cleared and reused.
#pragma once

#include <cstdint>
#include <vector>

#include "cornerstone/core/tensor.h"
#include "cornerstone/models/decoder_stack.h"

namespace cornerstone::infer {

class KVCache {
 public:
  KVCache(const models::DecoderStack& stack, int64_t slots, int64_t max_len);  // infer::InferenceWeights::config()

  int64_t slots() const { return slots_; }
  int64_t max_len() const { return max_len_; }
  int64_t row_width() const { return width_; }  // n_kv_heads * head_dim
  int64_t length(int64_t slot) const { return len_.at(static_cast<size_t>(slot)); }
  void set_length(int64_t slot, int64_t n);
  void clear(int64_t slot) { set_length(slot, 0); }
  // First key / value row of (layer, slot): max_len rows of row_width floats.
  float* keys(int64_t layer, int64_t slot);
  float* values(int64_t layer, int64_t slot);
  size_t bytes() const { return k_.nbytes() + v_.nbytes(); }

 private:
  int64_t layers_, slots_, max_len_, width_;
  Tensor k_, v_;  // (layers * slots, max_len, width)
  std::vector<int64_t> len_;
};

}  // namespace cornerstone::infer

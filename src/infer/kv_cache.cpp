#include "cornerstone/infer/kv_cache.h"

#include "cornerstone/core/error.h"

namespace cornerstone::infer {

KVCache::KVCache(const models::DecoderStack& s, int64_t slots, int64_t max_len)
    : layers_(s.n_layers), slots_(slots), max_len_(max_len), width_(s.kv_width()),
      len_(static_cast<size_t>(slots), 0) {
  if (slots <= 0 || max_len <= 0) throw ValueError("kv cache: slots and max_len must be positive");
  k_ = Tensor::empty({layers_ * slots_, max_len_, width_});
  v_ = Tensor::empty({layers_ * slots_, max_len_, width_});
}

void KVCache::set_length(int64_t slot, int64_t n) {
  if (slot < 0 || slot >= slots_) throw ValueError("kv cache: slot " + std::to_string(slot) + " out of range");
  if (n < 0 || n > max_len_)
    throw ShapeError("kv cache: length " + std::to_string(n) + " exceeds the cache of " + std::to_string(max_len_) + " positions");
  len_[static_cast<size_t>(slot)] = n;
}

float* KVCache::keys(int64_t layer, int64_t slot) { return k_.data<float>() + (layer * slots_ + slot) * max_len_ * width_; }

float* KVCache::values(int64_t layer, int64_t slot) { return v_.data<float>() + (layer * slots_ + slot) * max_len_ * width_; }

}  // namespace cornerstone::infer

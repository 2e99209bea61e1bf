#include "image_epochs.h"

#include "cornerstone/core/error.h"
#include "cornerstone/core/json_fields.h"

namespace cornerstone::train {

AugmentConfig AugmentConfig::from_json(const nlohmann::json& j, const std::string& where) {
  AugmentConfig c;
  const nlohmann::json section = j.is_null() ? nlohmann::json::object() : j;  // JsonFields keeps a reference
  JsonFields f(section, where);
  f.integer("crop_padding", c.crop_padding).boolean("flip", c.flip);
  f.read();
  if (c.crop_padding < 0 || c.crop_padding > 64) throw ValueError(where + ".crop_padding: must be in [0, 64], got " + std::to_string(c.crop_padding));
  return c;
}

std::vector<int64_t> EpochOrder::rows(int64_t k, int64_t B, const Shard& shard) const {
  std::vector<int64_t> out(static_cast<size_t>(B));
  const int64_t first = static_cast<int64_t>(first_row(k, B, shard));
  for (int64_t i = 0; i < B; ++i) {
    const int64_t p = first + i;
    out[static_cast<size_t>(i)] = permutation(p / size_)[static_cast<size_t>(p % size_)];
  }
  return out;
}

const std::vector<int64_t>& EpochOrder::permutation(int64_t epoch) const {
  // Fisher-Yates from the seed.
  std::lock_guard<std::mutex> lock(mutex_);
  if (epoch != cached_epoch_) {
    order_.resize(static_cast<size_t>(size_));
    for (int64_t i = 0; i < size_; ++i) order_[static_cast<size_t>(i)] = i;
    Rng rng(seed_ ^ 0x5eed0f0e9c4ull, static_cast<uint64_t>(epoch) * static_cast<uint64_t>(size_));
    for (int64_t i = size_ - 1; i > 0; --i) std::swap(order_[static_cast<size_t>(i)], order_[rng.below(static_cast<uint64_t>(i + 1))]);
    cached_epoch_ = epoch;
  }
  return order_;
}

}  // namespace cornerstone::train

// What the image objectives share (image_classification, image_text_contrastive): the "augment"
// config section, and epochs of a set walked in an order shuffled per epoch from the seed.
//
// Batch k (= step x accumulation + micro) holds positions [k B, (k + 1) B) of the endless sequence
// of epoch permutations, so every batch is a pure function of (seed, step, micro) and a resumed
// run draws what a straight run would. Under data parallelism (train/data_parallel.h) the batch of
// all processes is that of one process with world x B rows, of which each takes its B.
#pragma once

#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cornerstone/core/rng.h"
#include "cornerstone/train/data_parallel.h"

namespace cornerstone::train {

struct AugmentConfig {
  int64_t crop_padding = 0;  // random crop of the zero-padded image
  bool flip = false;         // random horizontal flip

  bool any() const { return crop_padding > 0 || flip; }
  static AugmentConfig from_json(const nlohmann::json& j, const std::string& where);
  nlohmann::json to_json() const { return {{"crop_padding", crop_padding}, {"flip", flip}}; }
};

class EpochOrder {
 public:
  EpochOrder(int64_t size, uint64_t seed) : size_(size), seed_(seed) {}
  // The set's rows of batch k of B rows per process: `shard`'s share of the global batch.
  std::vector<int64_t> rows(int64_t k, int64_t B, const Shard& shard = {}) const;
  // Where this process's rows of batch k start among all rows drawn so far (a random stream that
  // draws per row, offset by it, draws what one process with the whole batch would).
  static uint64_t first_row(int64_t k, int64_t B, const Shard& shard) {
    return static_cast<uint64_t>(k * shard.world * B + shard.first_row(B));
  }
  int64_t size() const { return size_; }

 private:
  const std::vector<int64_t>& permutation(int64_t epoch) const;  // cached for the current epoch
  int64_t size_;
  uint64_t seed_;
  mutable std::mutex mutex_;
  mutable int64_t cached_epoch_ = -1;
  mutable std::vector<int64_t> order_;
};

}  // namespace cornerstone::train

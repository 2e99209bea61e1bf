// Learning-rate schedule: linear warm-up from 0 to `lr` over `warmup` steps, then cosine decay to
// `min_lr` at `total` steps (and `min_lr` after).
#pragma once

#include <cstdint>

namespace cornerstone::train {

struct CosineSchedule {
  float lr = 6e-4f;
  float min_lr = 6e-5f;
  int64_t warmup = 100;
  int64_t total = 1000;

  // Learning rate for 0-based step `step`.
  float at(int64_t step) const;
};

}  // namespace cornerstone::train

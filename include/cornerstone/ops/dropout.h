// Inverted dropout, differentiable. The mask comes from counters reserved on `rng`, so a run is
// reproducible from the generator's state alone.
#pragma once

#include "cornerstone/core/rng.h"
#include "cornerstone/core/tensor.h"

namespace cornerstone::ops {

// Identity when p == 0; otherwise zeroes each element with probability p and scales the rest by 1/(1-p).
Tensor dropout(const Tensor& x, float p, Rng& rng);

}  // namespace cornerstone::ops

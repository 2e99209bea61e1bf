// Inverted dropout with a counter-based mask: element i is kept when
// uniform(philox(seed, counter + i / 4)[i % 4]) >= p, so the mask depends only on (seed, counter, i),
// never on the thread count. Kept elements are scaled by 1 / (1 - p).
#pragma once

#include <cstdint>

namespace cornerstone::kernels {

// y = x * keep / (1 - p), 0 <= p <= 1; keep bits stored in mask ((n + 7) / 8 bytes, bit i % 8 of
// byte i / 8; the unused high bits of the last byte are 0). The caller reserves (n + 3) / 4 counters
// (Rng::reserve) so that successive calls draw disjoint streams.
void dropout_forward(const float* x, int64_t n, float p, uint64_t seed, uint64_t counter, float* y,
                     uint8_t* mask);
void dropout_backward(const float* dy, const uint8_t* mask, int64_t n, float p, float* dx, bool accumulate);

}  // namespace cornerstone::kernels

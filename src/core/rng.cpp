#include "cornerstone/core/rng.h"

#include <cmath>

namespace cornerstone {

std::array<uint32_t, 4> philox4x32(uint64_t seed, uint64_t ctr) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  uint32_t c0 = static_cast<uint32_t>(ctr), c1 = static_cast<uint32_t>(ctr >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kM0) * c0;
    const uint64_t p1 = static_cast<uint64_t>(kM1) * c2;
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c1 = static_cast<uint32_t>(p1);
    c3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c2 = n2;
    k0 += kW0;
    k1 += kW1;
  }
  return {c0, c1, c2, c3};
}

uint32_t Rng::next_u32() { return philox4x32(seed_, offset_++)[0]; }

uint64_t Rng::next_u64() {
  const auto r = philox4x32(seed_, offset_++);
  return (static_cast<uint64_t>(r[0]) << 32) | r[1];
}

float Rng::uniform() { return uniform_from_bits(next_u32()); }

float Rng::normal() {
  const auto r = philox4x32(seed_, offset_++);
  // Box-Muller; u1 in (0, 1] so the log is finite.
  const double u1 = (static_cast<double>(r[0] >> 8) + 1.0) / 16777216.0;
  const double u2 = static_cast<double>(r[1] >> 8) / 16777216.0;
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

uint64_t Rng::below(uint64_t n) {
  if (n <= 1) return 0;
  // Rejection sampling to avoid modulo bias.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  for (;;) {
    const uint64_t x = next_u64();
    if (x < limit) return x % n;
  }
}

}  // namespace cornerstone

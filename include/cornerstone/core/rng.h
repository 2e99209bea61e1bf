// Counter-based random numbers (Philox-4x32-10). Element i of a random tensor depends only on
// (seed, offset + i), so results are identical for any thread count, and a generator's whole state
// is two integers that a checkpoint can save and restore.
#pragma once

#include <array>
#include <cstdint>

namespace cornerstone {

// Four 32-bit outputs for counter `ctr` under key `seed`.
std::array<uint32_t, 4> philox4x32(uint64_t seed, uint64_t ctr);

// Uniform in [0, 1) from 24 random bits; a standard normal from two uniforms (Box-Muller).
inline float uniform_from_bits(uint32_t bits) { return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f); }

class Rng {
 public:
  explicit Rng(uint64_t seed = 0, uint64_t offset = 0) : seed_(seed), offset_(offset) {}

  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }  // how many 4-word blocks have been consumed
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed, offset_ = offset; }

  // Reserves `blocks` counters and returns the first; callers then derive values from
  // philox4x32(seed(), first + i) in parallel.
  uint64_t reserve(uint64_t blocks) {
    const uint64_t first = offset_;
    offset_ += blocks;
    return first;
  }

  // Each scalar draw consumes one whole counter block, so (seed, offset) is the complete state:
  // save it, restore it, and the sequence continues exactly.
  uint32_t next_u32();
  uint64_t next_u64();
  float uniform();             // [0, 1)
  float normal();              // N(0, 1)
  uint64_t below(uint64_t n);  // uniform integer in [0, n)

 private:
  uint64_t seed_, offset_;
};

}  // namespace cornerstone

// q8_0 / q4_0 row quantizers: hand-computed blocks (rounding mode, tie to the first maximum, the
// zero block), a straightforward reference written from the format description, error bounds,
// and the property export -> import -> export relies on: quantize(dequantize(q)) == q.
#include <cmath>
#include <cstring>
#include <vector>

#include "cornerstone/kernels/quant.h"
#include "kernel_test.h"

namespace cornerstone::testing {
namespace {

namespace k = cornerstone::kernels;

// The reference, block by block, as the ggml documentation states it.
std::vector<k::BlockQ8_0> reference_q8_0(const std::vector<float>& x) {
  std::vector<k::BlockQ8_0> out(x.size() / 32);
  for (size_t b = 0; b < out.size(); ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    const float d = amax / 127.0f, id = d == 0.0f ? 0.0f : 1.0f / d;
    out[b].d = f32_to_f16(d);
    for (int j = 0; j < 32; ++j) out[b].qs[j] = static_cast<int8_t>(std::round(x[b * 32 + j] * id));
  }
  return out;
}

std::vector<k::BlockQ4_0> reference_q4_0(const std::vector<float>& x) {
  std::vector<k::BlockQ4_0> out(x.size() / 32);
  for (size_t b = 0; b < out.size(); ++b) {
    float max = 0;
    for (int j = 0; j < 32; ++j)
      if (std::fabs(x[b * 32 + j]) > std::fabs(max)) max = x[b * 32 + j];
    const float d = max / -8.0f, id = d == 0.0f ? 0.0f : 1.0f / d;
    out[b].d = f32_to_f16(d);
    for (int j = 0; j < 16; ++j) {
      const int lo = std::min(15, static_cast<int>(std::trunc(x[b * 32 + j] * id + 8.5f)));
      const int hi = std::min(15, static_cast<int>(std::trunc(x[b * 32 + 16 + j] * id + 8.5f)));
      out[b].qs[j] = static_cast<uint8_t>(lo | hi << 4);
    }
  }
  return out;
}

template <typename Block>
bool same_bytes(const std::vector<Block>& a, const std::vector<Block>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(Block)) == 0;
}

// Values of several magnitudes, with exact zeros and repeated maxima sprinkled in.
std::vector<float> test_values(size_t n, uint64_t seed) {
  auto x = random_vector(n, seed, -1.0f, 1.0f);
  for (size_t i = 0; i < n; ++i) {
    x[i] *= std::pow(10.0f, static_cast<float>(static_cast<int>(i / 32 % 7)) - 4.0f);  // 1e-4 .. 1e2 per block
    if (i % 37 == 0) x[i] = 0.0f;
  }
  return x;
}

TEST(Quant, Q8_0RoundsHalfAwayFromZeroWithTheF32Scale) {
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;  // d = 1 exactly
  x[1] = 2.5f, x[2] = -2.5f, x[3] = 0.5f, x[4] = -126.5f, x[5] = 1.4999f;
  k::BlockQ8_0 b;
  k::quantize_row_q8_0(x.data(), 32, &b);
  EXPECT_EQ(b.d.bits, 0x3C00);  // 1.0 in f16
  EXPECT_EQ(b.qs[0], 127);
  EXPECT_EQ(b.qs[1], 3);  // round-half-even would give 2
  EXPECT_EQ(b.qs[2], -3);
  EXPECT_EQ(b.qs[3], 1);
  EXPECT_EQ(b.qs[4], -127);
  EXPECT_EQ(b.qs[5], 1);
  EXPECT_EQ(b.qs[6], 0);
  std::vector<float> y(32);
  k::dequantize_row_q8_0(&b, 32, y.data());
  EXPECT_EQ(y[1], 3.0f);
  EXPECT_EQ(y[4], -127.0f);
}

TEST(Quant, Q8_0ScaleIsStoredAsF16ButAppliedInF32) {
  // amax = 1 -> d = 1/127 (not an f16 value): q = round(x * 127), and the stored scale is f16(1/127).
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 15) / 16.0f;  // max |x| = 1 at j = 31
  k::BlockQ8_0 b;
  k::quantize_row_q8_0(x.data(), 32, &b);
  EXPECT_EQ(b.d.bits, f32_to_f16(1.0f / 127.0f).bits);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(b.qs[j], static_cast<int8_t>(std::round(x[j] * (1.0f / (1.0f / 127.0f))))) << j;
  EXPECT_EQ(b.qs[31], 127);
}

TEST(Quant, Q4_0MapsTheSignedMaximumToZeroAndPacksNibbles) {
  std::vector<float> x(32, 0.0f);
  x[0] = -8.0f;  // max with its sign: d = -8 / -8 = 1
  x[1] = 7.0f, x[2] = 7.4f, x[3] = 0.5f, x[4] = -0.5f, x[5] = 3.2f, x[16] = 8.0f * 0.999f, x[17] = -8.0f;
  k::BlockQ4_0 b;
  k::quantize_row_q4_0(x.data(), 32, &b);
  EXPECT_EQ(b.d.bits, 0x3C00);
  auto lo = [&](int j) { return b.qs[j] & 0x0F; };
  auto hi = [&](int j) { return b.qs[j] >> 4; };
  EXPECT_EQ(lo(0), 0);   // -8 + 8.5 -> 0
  EXPECT_EQ(lo(1), 15);  // 15.5 -> 15
  EXPECT_EQ(lo(2), 15);  // 15.9 -> 15 (truncation, not rounding)
  EXPECT_EQ(lo(3), 9);
  EXPECT_EQ(lo(4), 8);
  EXPECT_EQ(lo(5), 11);
  EXPECT_EQ(lo(6), 8);   // zero
  EXPECT_EQ(hi(0), 15);  // x[16] = 7.992 -> min(15, 16) = 15
  EXPECT_EQ(hi(1), 0);   // x[17] = -8
  std::vector<float> y(32);
  k::dequantize_row_q4_0(&b, 32, y.data());
  EXPECT_EQ(y[0], -8.0f);
  EXPECT_EQ(y[1], 7.0f);
  EXPECT_EQ(y[16], 7.0f);
  EXPECT_EQ(y[3], 1.0f);

  // A positive maximum gives a negative scale; on equal magnitudes the first one wins.
  std::vector<float> z(32, 0.0f);
  z[3] = 4.0f, z[9] = -4.0f, z[20] = 1.0f;
  k::quantize_row_q4_0(z.data(), 32, &b);
  EXPECT_EQ(f16_to_f32(b.d), -0.5f);
  k::dequantize_row_q4_0(&b, 32, y.data());
  EXPECT_EQ(y[3], 4.0f);
  EXPECT_EQ(y[9], -3.5f);  // -4 / -0.5 + 8.5 = 16.5 -> clamped to 15 -> (15 - 8) * -0.5
  EXPECT_EQ(y[20], 1.0f);
}

TEST(Quant, ZeroBlocksHaveZeroScaleAndMidpointNibbles) {
  std::vector<float> x(64, 0.0f);
  k::BlockQ8_0 a[2];
  k::BlockQ4_0 b[2];
  k::quantize_row_q8_0(x.data(), 64, a);
  k::quantize_row_q4_0(x.data(), 64, b);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(a[i].d.bits, 0);
    EXPECT_EQ(b[i].d.bits, 0x8000);  // 0 / -8 = -0, as ggml stores it
    for (int j = 0; j < 32; ++j) EXPECT_EQ(a[i].qs[j], 0);
    for (int j = 0; j < 16; ++j) EXPECT_EQ(b[i].qs[j], 0x88);
  }
}

TEST(Quant, MatchesTheReferenceOnRandomRows) {
  const auto x = test_values(32 * 200, 5);
  std::vector<k::BlockQ8_0> q8(200);
  std::vector<k::BlockQ4_0> q4(200);
  k::quantize_row_q8_0(x.data(), static_cast<int64_t>(x.size()), q8.data());
  k::quantize_row_q4_0(x.data(), static_cast<int64_t>(x.size()), q4.data());
  EXPECT_TRUE(same_bytes(q8, reference_q8_0(x)));
  EXPECT_TRUE(same_bytes(q4, reference_q4_0(x)));
}

TEST(Quant, DequantizedValuesAreWithinHalfAStep) {
  const auto x = test_values(32 * 100, 6);
  std::vector<k::BlockQ8_0> q8(100);
  std::vector<k::BlockQ4_0> q4(100);
  std::vector<float> y8(x.size()), y4(x.size());
  k::quantize_row_q8_0(x.data(), static_cast<int64_t>(x.size()), q8.data());
  k::dequantize_row_q8_0(q8.data(), static_cast<int64_t>(x.size()), y8.data());
  k::quantize_row_q4_0(x.data(), static_cast<int64_t>(x.size()), q4.data());
  k::dequantize_row_q4_0(q4.data(), static_cast<int64_t>(x.size()), y4.data());
  for (size_t i = 0; i < x.size(); ++i) {
    float amax = 0;
    for (size_t j = i / 32 * 32; j < i / 32 * 32 + 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    // Half a step of the f32 scale, plus up to 127 (8) times the scale's f16 rounding error.
    const float d8 = amax / 127.0f, d4 = amax / 8.0f;
    const float e8 = std::fabs(std::fabs(f16_to_f32(q8[i / 32].d)) - d8), e4 = std::fabs(std::fabs(f16_to_f32(q4[i / 32].d)) - d4);
    EXPECT_LE(std::fabs(y8[i] - x[i]), 0.5f * d8 + 127.0f * e8 + 1e-12f) << i;
    EXPECT_LE(std::fabs(y4[i] - x[i]), 1.0f * d4 + 8.0f * e4 + 1e-12f) << i;  // q4's top step is clamped: a whole step
  }
}

TEST(Quant, RequantizingDequantizedBlocksReproducesTheirBytes) {
  const auto x = test_values(32 * 500, 7);
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<k::BlockQ8_0> q8(500), q8b(500);
  std::vector<k::BlockQ4_0> q4(500), q4b(500);
  std::vector<float> y(x.size());
  k::quantize_row_q8_0(x.data(), n, q8.data());
  k::dequantize_row_q8_0(q8.data(), n, y.data());
  k::quantize_row_q8_0(y.data(), n, q8b.data());
  EXPECT_TRUE(same_bytes(q8, q8b));
  k::quantize_row_q4_0(x.data(), n, q4.data());
  k::dequantize_row_q4_0(q4.data(), n, y.data());
  k::quantize_row_q4_0(y.data(), n, q4b.data());
  EXPECT_TRUE(same_bytes(q4, q4b));
}

}  // namespace
}  // namespace cornerstone::testing

// Dropout: the mask is exactly the header's definition (checked against cornerstone::philox4x32),
// depends only on (seed, counter, i), and keeps the right fraction; forward and backward scale by
// 1 / (1 - p).
#include <cmath>
#include <vector>

#include "cornerstone/core/rng.h"
#include "cornerstone/kernels/dropout.h"
#include "kernel_test.h"

namespace cornerstone::testing {
namespace {

namespace k = cornerstone::kernels;

bool keep_ref(uint64_t seed, uint64_t counter, int64_t i, float p) {
  return uniform_from_bits(philox4x32(seed, counter + static_cast<uint64_t>(i) / 4)[i % 4]) >= p;
}
bool mask_bit(const std::vector<uint8_t>& mask, int64_t i) { return (mask[i / 8] >> (i % 8)) & 1; }

struct DropoutRun {
  std::vector<float> y;
  std::vector<uint8_t> mask;
};
DropoutRun run_dropout(const std::vector<float>& x, float p, uint64_t seed, uint64_t counter) {
  DropoutRun r{std::vector<float>(x.size()), std::vector<uint8_t>((x.size() + 7) / 8, 0xAB)};
  k::dropout_forward(x.data(), x.size(), p, seed, counter, r.y.data(), r.mask.data());
  return r;
}

const int64_t kSizes[] = {1, 13, 64, 65, 1000, 100003};

TEST(Dropout, MaskIsTheCounterBasedDefinition) {
  for_each_isa([](cpu::Isa) {
    for (const int64_t n : kSizes) {
      for (const float p : {0.1f, 0.5f, 0.9f}) {
        SCOPED_TRACE(::testing::Message() << "n=" << n << " p=" << p);
        const uint64_t seed = 0x1234567890ull, counter = (uint64_t{1} << 32) - 3;  // counter crosses 2^32
        const auto x = random_vector(n, 91, -2, 2);
        const DropoutRun r = run_dropout(x, p, seed, counter);
        const float scale = 1.0f / (1.0f - p);
        int64_t bad_mask = 0, bad_y = 0;
        for (int64_t i = 0; i < n; ++i) {
          const bool keep = keep_ref(seed, counter, i, p);
          bad_mask += mask_bit(r.mask, i) != keep;
          bad_y += r.y[i] != (keep ? x[i] * scale : 0.0f);
        }
        EXPECT_EQ(bad_mask, 0);
        EXPECT_EQ(bad_y, 0);
        for (int64_t i = n; i < static_cast<int64_t>(r.mask.size()) * 8; ++i) EXPECT_FALSE(mask_bit(r.mask, i));
      }
    }
  });
}

TEST(Dropout, KeepsOneMinusPOfTheElements) {
  const int64_t n = 1 << 20;
  const std::vector<float> x(n, 1.0f);
  for (const float p : {0.1f, 0.5f}) {
    const DropoutRun r = run_dropout(x, p, 7, 0);
    int64_t kept[4] = {0, 0, 0, 0};  // by Philox output word, to catch a stuck word
    for (int64_t i = 0; i < n; ++i) kept[i % 4] += mask_bit(r.mask, i);
    const double sigma = std::sqrt(p * (1 - p) / (n / 4));
    for (int w = 0; w < 4; ++w) EXPECT_NEAR(kept[w] / (n / 4.0), 1 - p, 5 * sigma) << "word " << w;
    // Inverted dropout keeps the expectation: mean(y) ~ mean(x) = 1.
    double sum = 0;
    for (float v : r.y) sum += v;
    EXPECT_NEAR(sum / n, 1.0, 5 * std::sqrt(p / (1 - p) / n));
  }
}

TEST(Dropout, DependsOnlyOnSeedCounterAndIndex) {
  const int64_t n = 100003;
  const auto x = random_vector(n, 92);
  const DropoutRun base = run_dropout(x, 0.3f, 5, 1000);
  // Thread count and ISA do not matter.
  for_each_isa([&](cpu::Isa) {
    for (int t = 1; t <= 2; ++t) {
      ThreadsScope threads(t);
      const DropoutRun r = run_dropout(x, 0.3f, 5, 1000);
      EXPECT_TRUE(bitwise_equal(r.y, base.y));
      EXPECT_EQ(r.mask, base.mask);
    }
  });
  // Elements [256, n) under counter 1000 are elements [0, n - 256) under counter 1000 + 64.
  const std::vector<float> tail(x.begin() + 256, x.end());
  const DropoutRun shifted = run_dropout(tail, 0.3f, 5, 1000 + 64);
  EXPECT_TRUE(bitwise_equal(shifted.y, std::vector<float>(base.y.begin() + 256, base.y.end())));
  // Another seed or counter gives another mask.
  EXPECT_NE(run_dropout(x, 0.3f, 6, 1000).mask, base.mask);
  EXPECT_NE(run_dropout(x, 0.3f, 5, 1001).mask, base.mask);
}

TEST(Dropout, ZeroAndOne) {
  const auto x = random_vector(77, 93);
  const DropoutRun keep_all = run_dropout(x, 0.0f, 1, 0);
  EXPECT_TRUE(bitwise_equal(keep_all.y, x));
  const DropoutRun drop_all = run_dropout(x, 1.0f, 1, 0);
  EXPECT_EQ(drop_all.y, std::vector<float>(77, 0.0f));
  for (int64_t i = 0; i < 77; ++i) {
    EXPECT_TRUE(mask_bit(keep_all.mask, i));
    EXPECT_FALSE(mask_bit(drop_all.mask, i));
  }
}

TEST(Dropout, BackwardAppliesTheSavedMask) {
  for_each_isa([](cpu::Isa) {
    for (const int64_t n : kSizes) {
      SCOPED_TRACE(::testing::Message() << "n=" << n);
      const auto x = random_vector(n, 94), dy = random_vector(n, 95), dx0 = random_vector(n, 96);
      const DropoutRun r = run_dropout(x, 0.25f, 3, 17);
      for (const bool accumulate : {false, true}) {
        std::vector<float> dx = dx0, e(n);
        k::dropout_backward(dy.data(), r.mask.data(), n, 0.25f, dx.data(), accumulate);
        for (int64_t i = 0; i < n; ++i)
          e[i] = (mask_bit(r.mask, i) ? dy[i] * (1.0f / 0.75f) : 0.0f) + (accumulate ? dx0[i] : 0.0f);
        EXPECT_TRUE(all_close(dx, e, 1e-6, 0));
      }
    }
  });
}

TEST(Dropout, BackwardMatchesFiniteDifferences) {
  const int64_t n = 10;
  const auto x = random_vector(n, 97), r = random_vector(n, 98);
  for_each_isa([&](cpu::Isa) {
    const DropoutRun fwd = run_dropout(x, 0.4f, 11, 0);
    std::vector<float> dx(n);
    k::dropout_backward(r.data(), fwd.mask.data(), n, 0.4f, dx.data(), false);
    const auto num = numeric_grad([&](const std::vector<float>& v) { return dot(run_dropout(v, 0.4f, 11, 0).y, r); },
                                  x, 1e-2f);
    EXPECT_TRUE(all_close(dx, to_float(num), 1e-3, 1e-4));
  });
}

}  // namespace
}  // namespace cornerstone::testing

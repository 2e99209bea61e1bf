// Row softmax against a double-precision reference; the backward against the explicit Jacobian
// dy_j/dx_k = y_j (delta_jk - y_k).
#include <cmath>
#include <limits>
#include <vector>

#include "cornerstone/kernels/softmax.h"
#include "kernel_test.h"

namespace cornerstone::testing {
namespace {

namespace k = cornerstone::kernels;

std::vector<double> softmax_ref(const std::vector<float>& x, int64_t N, int64_t C) {
  std::vector<double> y(N * C);
  for (int64_t i = 0; i < N; ++i) {
    double m = -INFINITY, s = 0;
    for (int64_t j = 0; j < C; ++j) m = std::max(m, static_cast<double>(x[i * C + j]));
    for (int64_t j = 0; j < C; ++j) s += std::exp(x[i * C + j] - m);
    for (int64_t j = 0; j < C; ++j) y[i * C + j] = std::exp(x[i * C + j] - m) / s;
  }
  return y;
}

struct Shape {
  int64_t N, C;
};
const Shape kShapes[] = {{1, 1}, {3, 7}, {2, 16}, {5, 45}, {4, 1000}, {50, 777}};

TEST(Softmax, ForwardMatchesReference) {
  for_each_isa([](cpu::Isa) {
    for (const Shape s : kShapes) {
      SCOPED_TRACE(::testing::Message() << "N=" << s.N << " C=" << s.C);
      // Large offsets and spreads: only a max-subtracted softmax survives them in fp32.
      auto x = random_vector(s.N * s.C, 41, -30, 30);
      for (int64_t i = 0; i < s.N; ++i)
        for (int64_t j = 0; j < s.C; ++j) x[i * s.C + j] += (i % 2 ? 500.0f : -500.0f);
      std::vector<float> y(s.N * s.C);
      k::softmax_forward(x.data(), s.N, s.C, y.data());
      EXPECT_TRUE(all_close(y, to_float(softmax_ref(x, s.N, s.C)), 2e-5, 1e-12));
    }
  });
}

TEST(Softmax, BackwardMatchesJacobian) {
  for_each_isa([](cpu::Isa) {
    for (const Shape s : kShapes) {
      SCOPED_TRACE(::testing::Message() << "N=" << s.N << " C=" << s.C);
      const auto x = random_vector(s.N * s.C, 42, -4, 4), dy = random_vector(s.N * s.C, 43);
      const auto dx0 = random_vector(s.N * s.C, 44);
      std::vector<float> y(s.N * s.C);
      k::softmax_forward(x.data(), s.N, s.C, y.data());
      const auto yr = softmax_ref(x, s.N, s.C);
      std::vector<double> e(s.N * s.C);
      for (int64_t i = 0; i < s.N; ++i)
        for (int64_t kk = 0; kk < s.C; ++kk)
          for (int64_t j = 0; j < s.C; ++j)
            e[i * s.C + kk] += dy[i * s.C + j] * yr[i * s.C + j] * ((j == kk) - yr[i * s.C + kk]);
      for (const bool accumulate : {false, true}) {
        std::vector<float> dx = dx0, ex(e.size());
        for (size_t i = 0; i < e.size(); ++i) ex[i] = static_cast<float>(e[i] + (accumulate ? dx0[i] : 0.0));
        k::softmax_backward(y.data(), dy.data(), s.N, s.C, dx.data(), accumulate);
        EXPECT_TRUE(all_close(dx, ex, 1e-4, 1e-6));
      }
    }
  });
}

// -inf entries (attention-style masks) vanish. Not exactly 0: simd.h's exp clamps its argument at
// -87.3 and returns ~FLT_MIN (1.2e-38) below it.
TEST(Softmax, MaskedEntriesVanish) {
  std::vector<float> x = {1.0f, -std::numeric_limits<float>::infinity(), 2.0f, -std::numeric_limits<float>::infinity()};
  for_each_isa([&](cpu::Isa) {
    std::vector<float> y(4);
    k::softmax_forward(x.data(), 1, 4, y.data());
    EXPECT_LT(y[1], 1e-37f);
    EXPECT_LT(y[3], 1e-37f);
    EXPECT_NEAR(y[0] + y[2], 1.0f, 1e-6);
  });
}

TEST(Softmax, BackwardMatchesFiniteDifferences) {
  const int64_t N = 2, C = 5;
  const auto x = random_vector(N * C, 45, -2, 2), r = random_vector(N * C, 46);
  for_each_isa([&](cpu::Isa) {
    std::vector<float> y(N * C), dx(N * C);
    k::softmax_forward(x.data(), N, C, y.data());
    k::softmax_backward(y.data(), r.data(), N, C, dx.data(), false);
    const auto num = numeric_grad(
        [&](const std::vector<float>& v) {
          std::vector<float> yv(N * C);
          k::softmax_forward(v.data(), N, C, yv.data());
          return dot(yv, r);
        },
        x, 1e-2f);
    EXPECT_TRUE(all_close(dx, to_float(num), 2e-3, 2e-4));
  });
}

}  // namespace
}  // namespace cornerstone::testing

// conv2d_forward / conv2d_backward against a double-precision loop over the definition, on both
// paths (im2col + GEMM for few input channels, 1x1 kernels and tiny output maps, where taps that
// read only padding are left out; oneDNN's direct convolution for spatial kernels over >= 16
// channels), with the gradient conventions of kernels/conv.h: dx written or accumulated, dw and db
// added into, null gradients skipped. Results repeat bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "cornerstone/core/rng.h"
#include "cornerstone/kernels/conv.h"
#include "kernel_test.h"

using namespace cornerstone;
using kernels::Conv2dGeometry;

namespace {

struct Case {
  int64_t B, C, H, W, O, k, stride, pad;
  Conv2dGeometry geometry() const { return {C, H, W, k, k, stride, pad}; }
};

std::vector<float> random_values(int64_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = rng.normal();
  return v;
}

// The input pixel an output pixel's kernel tap reads, or -1 in the padding.
int64_t tap(const Case& c, const Conv2dGeometry& g, int64_t n, int64_t ch, int64_t i, int64_t j, int64_t ki, int64_t kj) {
  const int64_t y = i * c.stride - c.pad + ki, x = j * c.stride - c.pad + kj;
  if (y < 0 || y >= g.H || x < 0 || x >= g.W) return -1;
  return ((n * c.C + ch) * g.H + y) * g.W + x;
}

struct Reference {
  std::vector<double> y, dx, dw, db;
};

Reference reference(const Case& c, const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>& b,
                    const std::vector<float>& dy) {
  const Conv2dGeometry g = c.geometry();
  const int64_t Ho = g.Ho(), Wo = g.Wo();
  Reference r{std::vector<double>(static_cast<size_t>(c.B * c.O * Ho * Wo)), std::vector<double>(x.size()),
              std::vector<double>(w.size()), std::vector<double>(static_cast<size_t>(c.O))};
  for (int64_t n = 0; n < c.B; ++n)
    for (int64_t o = 0; o < c.O; ++o)
      for (int64_t i = 0; i < Ho; ++i)
        for (int64_t j = 0; j < Wo; ++j) {
          const size_t at = static_cast<size_t>(((n * c.O + o) * Ho + i) * Wo + j);
          double s = b[static_cast<size_t>(o)];
          for (int64_t ch = 0; ch < c.C; ++ch)
            for (int64_t ki = 0; ki < c.k; ++ki)
              for (int64_t kj = 0; kj < c.k; ++kj) {
                const int64_t p = tap(c, g, n, ch, i, j, ki, kj);
                if (p < 0) continue;
                const size_t wi = static_cast<size_t>(((o * c.C + ch) * c.k + ki) * c.k + kj);
                s += static_cast<double>(x[static_cast<size_t>(p)]) * w[wi];
                r.dx[static_cast<size_t>(p)] += static_cast<double>(dy[at]) * w[wi];
                r.dw[wi] += static_cast<double>(dy[at]) * x[static_cast<size_t>(p)];
              }
          r.y[at] = s;
          r.db[static_cast<size_t>(o)] += dy[at];
        }
  return r;
}

void expect_near(const std::vector<float>& got, const std::vector<double>& want, double offset, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 0;
  for (double v : want) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i] + offset, 2e-5 * (scale + 1)) << what << " at " << i;
}

class Conv2dKernel : public ::testing::TestWithParam<Case> {};

TEST_P(Conv2dKernel, MatchesTheDefinitionForwardAndBackward) {
  const Case c = GetParam();
  const Conv2dGeometry g = c.geometry();
  const int64_t ny = c.B * c.O * g.Ho() * g.Wo();
  const auto x = random_values(c.B * c.C * c.H * c.W, 1), w = random_values(c.O * c.C * c.k * c.k, 2),
             b = random_values(c.O, 3), dy = random_values(ny, 4);
  const Reference r = reference(c, x, w, b, dy);
  for (int threads : {1, 2}) {
    SCOPED_TRACE(::testing::Message() << threads << " thread(s)");
    cornerstone::testing::ThreadsScope scope(threads);
    std::vector<float> y(static_cast<size_t>(ny));
    kernels::conv2d_forward(x.data(), w.data(), b.data(), c.B, c.O, g, y.data());
    expect_near(y, r.y, 0, "y");

    // dx written, then accumulated onto ones; dw and db added onto ones.
    std::vector<float> dx(x.size(), 7.0f), dw(w.size(), 1.0f), db(b.size(), 1.0f);
    kernels::conv2d_backward(dy.data(), x.data(), w.data(), c.B, c.O, g, dx.data(), false, dw.data(), db.data());
    expect_near(dx, r.dx, 0, "dx");
    expect_near(dw, r.dw, 1, "dw");
    expect_near(db, r.db, 1, "db");
    std::vector<float> dx_acc(x.size(), 1.0f);
    kernels::conv2d_backward(dy.data(), x.data(), w.data(), c.B, c.O, g, dx_acc.data(), true, nullptr, nullptr);
    expect_near(dx_acc, r.dx, 1, "dx accumulated");

    // Without bias, and with only the weight gradient: the same results, repeated bit for bit.
    std::vector<float> y2(y.size()), dw2(w.size(), 1.0f);
    kernels::conv2d_forward(x.data(), w.data(), nullptr, c.B, c.O, g, y2.data());
    for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y2[i] + b[i / static_cast<size_t>(g.Ho() * g.Wo()) % b.size()], y[i], 1e-4);
    kernels::conv2d_backward(dy.data(), x.data(), w.data(), c.B, c.O, g, nullptr, false, dw2.data(), nullptr);
    EXPECT_EQ(dw2, dw);
    std::vector<float> y3(y.size());
    kernels::conv2d_forward(x.data(), w.data(), b.data(), c.B, c.O, g, y3.data());
    EXPECT_EQ(y3, y);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, Conv2dKernel,
                         ::testing::Values(Case{2, 3, 7, 6, 4, 3, 1, 1},     // im2col: few channels
                                           Case{2, 8, 5, 5, 6, 1, 1, 0},     // 1x1: a plain GEMM
                                           Case{2, 16, 6, 6, 8, 3, 1, 1},    // direct
                                           Case{3, 20, 7, 7, 16, 3, 2, 1},   // direct, channels not a multiple of 16, stride 2
                                           Case{2, 32, 9, 9, 24, 7, 2, 3},   // direct, a wide kernel
                                           Case{3, 8, 1, 1, 6, 3, 1, 1},     // im2col, a 1x1 map: only the centre tap is live
                                           Case{2, 32, 1, 1, 16, 3, 1, 1},   // many channels, a 1x1 output: im2col, centre tap
                                           Case{2, 24, 2, 2, 8, 3, 2, 1}),   // a 2x2 map, stride 2: 4 live taps of 9
                         [](const auto& info) {
                           const Case& c = info.param;
                           return "C" + std::to_string(c.C) + "_H" + std::to_string(c.H) + "_k" + std::to_string(c.k) + "_s" +
                                  std::to_string(c.stride);
                         });

}  // namespace

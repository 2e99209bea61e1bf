// Activations against double-precision references on random inputs, a dense grid over [-12, 12] and
// the tails. The GELU gradients use PyTorch's formulas (tanh and 1 - tanh^2; normal CDF + x pdf).
#include <cmath>
#include <vector>

#include "cornerstone/kernels/activation.h"
#include "cornerstone/kernels/elementwise.h"
#include "kernel_test.h"

namespace cornerstone::testing {
namespace {

namespace k = cornerstone::kernels;
using k::GeluKind;

const double kK0 = std::sqrt(2.0 / M_PI), kK1 = 0.044715;

double gelu_ref(GeluKind kind, double x) {
  // 0.5 x (1 + tanh u) = x / (1 + exp(-2u)); in double the tanh form is exact only down to x ~ -5,
  // where 1 + tanh(u) falls below double epsilon.
  if (kind == GeluKind::Tanh) return x / (1 + std::exp(-2 * kK0 * (x + kK1 * x * x * x)));
  return 0.5 * x * std::erfc(-x / std::sqrt(2.0));  // = 0.5 x (1 + erf(x / sqrt 2)), exact in the tail
}
double gelu_grad_ref(GeluKind kind, double x) {
  if (kind == GeluKind::Tanh) {
    const double t = std::tanh(kK0 * (x + kK1 * x * x * x));
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * kK0 * (1 + 3 * kK1 * x * x);
  }
  return 0.5 * std::erfc(-x / std::sqrt(2.0)) + x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
}
double sigmoid_ref(double x) { return 1 / (1 + std::exp(-x)); }
double silu_ref(double x) { return x * sigmoid_ref(x); }
double silu_grad_ref(double x) { return sigmoid_ref(x) * (1 + x * (1 - sigmoid_ref(x))); }

// Random values of several scales, a dense grid, and special points.
std::vector<float> test_inputs(int64_t n_random) {
  std::vector<float> x = random_vector(n_random, 21, -6, 6);
  for (int i = -12000; i <= 12000; ++i) x.push_back(i * 1e-3f);
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 30.0f, -30.0f, 90.0f, -90.0f, 1e4f, -1e4f}) x.push_back(v);
  return x;
}

template <class F>
std::vector<double> map_ref(const std::vector<float>& x, F f) {
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = f(x[i]);
  return y;
}

// Sizes around the vector widths and above the parallel grain.
const int64_t kSizes[] = {1, 7, 16, 33, 1000, 70001};

TEST(Gelu, ForwardAndBackwardMatchReference) {
  for_each_isa([](cpu::Isa) {
    for (const GeluKind kind : {GeluKind::Tanh, GeluKind::Erf}) {
      SCOPED_TRACE(kind == GeluKind::Tanh ? "tanh" : "erf");
      const auto x = test_inputs(1000);
      const auto dy = random_vector(x.size(), 22, -2, 2), dx0 = random_vector(x.size(), 23);
      std::vector<float> y(x.size());
      k::gelu_forward(kind, x.data(), x.size(), y.data());
      // Relative accuracy everywhere, also in the negative tail (the erf form goes through erfc there):
      // rtol covers fp32 rounding amplified by erfc's condition number 2a^2 (~50 at x = -7).
      EXPECT_TRUE(all_close(y, to_float(map_ref(x, [&](double v) { return gelu_ref(kind, v); })), 1e-5, 1e-30));
      for (const bool accumulate : {false, true}) {
        std::vector<float> dx = dx0;
        k::gelu_backward(kind, x.data(), dy.data(), x.size(), dx.data(), accumulate);
        std::vector<double> e(x.size());
        for (size_t i = 0; i < x.size(); ++i) e[i] = dy[i] * gelu_grad_ref(kind, x[i]) + (accumulate ? dx0[i] : 0.0);
        EXPECT_TRUE(all_close(dx, to_float(e), 1e-5, 1e-7));
      }
    }
  });
}

TEST(Silu, ForwardAndBackwardMatchReference) {
  for_each_isa([](cpu::Isa) {
    const auto x = test_inputs(1000);
    const auto dy = random_vector(x.size(), 24, -2, 2), dx0 = random_vector(x.size(), 25);
    std::vector<float> y(x.size());
    k::silu_forward(x.data(), x.size(), y.data());
    EXPECT_TRUE(all_close(y, to_float(map_ref(x, silu_ref)), 4e-6, 1e-30));
    for (const bool accumulate : {false, true}) {
      std::vector<float> dx = dx0;
      k::silu_backward(x.data(), dy.data(), x.size(), dx.data(), accumulate);
      std::vector<double> e(x.size());
      for (size_t i = 0; i < x.size(); ++i) e[i] = dy[i] * silu_grad_ref(x[i]) + (accumulate ? dx0[i] : 0.0);
      EXPECT_TRUE(all_close(dx, to_float(e), 1e-5, 1e-7));
    }
  });
}

TEST(Activation, AllSizesIncludingTailsAndThreads) {
  for_each_isa([](cpu::Isa) {
    for (const int64_t n : kSizes) {
      SCOPED_TRACE(::testing::Message() << "n=" << n);
      const auto x = random_vector(n, 26, -5, 5), dy = random_vector(n, 27);
      std::vector<float> y(n, 7.0f), dx(n, 7.0f);
      k::gelu_forward(GeluKind::Tanh, x.data(), n, y.data());
      EXPECT_TRUE(all_close(y, to_float(map_ref(x, [](double v) { return gelu_ref(GeluKind::Tanh, v); })), 4e-6, 1e-7));
      k::silu_backward(x.data(), dy.data(), n, dx.data(), false);
      std::vector<double> e(n);
      for (int64_t i = 0; i < n; ++i) e[i] = dy[i] * silu_grad_ref(x[i]);
      EXPECT_TRUE(all_close(dx, to_float(e), 1e-5, 1e-7));
    }
  });
}

// The fused GELU backward + bias gradient, and sum_rows (the unfused bias gradient), per ISA: dx
// as gelu_backward gives it (fp32) or its bf16 rounding, db against a double sum, bitwise the same
// at 1, 2 and 3 threads; row counts below, at and past a block (64 rows), widths with tails.
TEST(GeluBackwardBias, MatchesUnfusedAndDoubleSumsAtAnyThreadCount) {
  for_each_isa([](cpu::Isa) {
    for (const auto& [N, F] : {std::pair<int64_t, int64_t>{1, 5}, {64, 16}, {200, 37}, {513, 96}}) {
      SCOPED_TRACE(::testing::Message() << "N=" << N << " F=" << F);
      const auto x = random_vector(N * F, 31, -4, 4), dy = random_vector(N * F, 32);
      for (const GeluKind kind : {GeluKind::Tanh, GeluKind::Erf}) {
        std::vector<float> want(N * F);
        k::gelu_backward(kind, x.data(), dy.data(), N * F, want.data(), false);
        std::vector<double> colsum(F, 0.5);  // db accumulates into what is there
        for (int64_t r = 0; r < N; ++r)
          for (int64_t j = 0; j < F; ++j) colsum[j] += want[r * F + j];
        std::vector<float> first;
        for (int threads : {1, 2, 3}) {
          ThreadsScope scope(threads);
          std::vector<float> dx(N * F, 7.0f), db(F, 0.5f), db_unfused(F, 0.5f);
          std::vector<bf16> dxb(N * F);
          k::gelu_backward_bias(kind, x.data(), dy.data(), N, F, dx.data(), nullptr, db.data());
          EXPECT_TRUE(bitwise_equal(dx, want));
          EXPECT_TRUE(all_close(db, to_float(colsum), 1e-5, 1e-5));
          if (first.empty()) first = db;
          EXPECT_TRUE(bitwise_equal(db, first)) << threads << " threads";
          std::vector<float> db2(F, 0.5f);
          k::gelu_backward_bias(kind, x.data(), dy.data(), N, F, nullptr, dxb.data(), db2.data());
          EXPECT_TRUE(bitwise_equal(db2, db));  // the sums are of the fp32 values
          for (int64_t i = 0; i < N * F; ++i) ASSERT_EQ(dxb[i].bits, f32_to_bf16(want[i]).bits) << i;
          k::sum_rows(want.data(), N, F, db_unfused.data());
          EXPECT_TRUE(all_close(db_unfused, to_float(colsum), 1e-5, 1e-5));
        }
      }
    }
  });
}

TEST(Activation, InPlaceForward) {  // y may alias x (the autograd op reuses a dead input's buffer)
  for_each_isa([](cpu::Isa) {
    auto x = random_vector(100, 28, -4, 4);
    const auto x0 = x;
    k::silu_forward(x.data(), x.size(), x.data());
    EXPECT_TRUE(all_close(x, to_float(map_ref(x0, silu_ref)), 4e-6, 1e-7));
  });
}

TEST(SwiGlu, ForwardAndBackwardMatchReference) {
  for_each_isa([](cpu::Isa) {
    for (const auto& [N, F] : {std::pair<int64_t, int64_t>{1, 1}, {3, 7}, {4, 32}, {5, 45}, {40, 1000}}) {
      SCOPED_TRACE(::testing::Message() << "N=" << N << " F=" << F);
      const auto gu = random_vector(N * 2 * F, 29, -6, 6), dy = random_vector(N * F, 30);
      const auto d0 = random_vector(N * 2 * F, 31);
      std::vector<float> y(N * F);
      k::swiglu_forward(gu.data(), N, F, y.data());
      std::vector<double> ey(N * F), ed(N * 2 * F);
      for (int64_t r = 0; r < N; ++r)
        for (int64_t j = 0; j < F; ++j) {
          const double g = gu[r * 2 * F + j], u = gu[r * 2 * F + F + j], d = dy[r * F + j];
          ey[r * F + j] = silu_ref(g) * u;
          ed[r * 2 * F + j] = d * u * silu_grad_ref(g);
          ed[r * 2 * F + F + j] = d * silu_ref(g);
        }
      EXPECT_TRUE(all_close(y, to_float(ey), 4e-6, 1e-7));
      for (const bool accumulate : {false, true}) {
        std::vector<float> d = d0;
        k::swiglu_backward(gu.data(), dy.data(), N, F, d.data(), accumulate);
        std::vector<double> e = ed;
        for (size_t i = 0; i < e.size(); ++i) e[i] += accumulate ? d0[i] : 0.0;
        // atol: silu' crosses zero at gate = -1.278, where 1 + g (1 - s) cancels; the error there is
        // fp32 rounding of the O(|dy up|) terms, not of the small result.
        EXPECT_TRUE(all_close(d, to_float(e), 1e-5, 1e-6));
      }
    }
  });
}

TEST(Tanh, ForwardAndBackwardMatchReference) {
  for_each_isa([](cpu::Isa) {
    auto x = test_inputs(1000);
    for (float v : {0.624f, 0.625f, -0.625f, 0.626f, 1e-4f, -3e-6f, 9.0f, 44.0f, 45.0f}) x.push_back(v);
    const auto dy = random_vector(x.size(), 24, -2, 2), dx0 = random_vector(x.size(), 25);
    std::vector<float> y(x.size());
    k::tanh_forward(x.data(), x.size(), y.data());
    // Relative accuracy also near 0 (the polynomial branch) and at the branch point.
    EXPECT_TRUE(all_close(y, to_float(map_ref(x, [](double v) { return std::tanh(v); })), 3e-7, 1e-30));
    for (const bool accumulate : {false, true}) {
      std::vector<float> dx = dx0;
      k::tanh_backward(y.data(), dy.data(), x.size(), dx.data(), accumulate);
      std::vector<double> e(x.size());
      for (size_t i = 0; i < x.size(); ++i) e[i] = dy[i] * (1.0 - double(y[i]) * y[i]) + (accumulate ? dx0[i] : 0.0);
      EXPECT_TRUE(all_close(dx, to_float(e), 1e-6, 1e-7));
    }
    for (const int64_t n : kSizes) {  // every length, tails included, and the parallel path
      const auto v = random_vector(n, 26, -4, 4);
      std::vector<float> out(n);
      k::tanh_forward(v.data(), n, out.data());
      EXPECT_TRUE(all_close(out, to_float(map_ref(v, [](double t) { return std::tanh(t); })), 3e-7, 1e-30)) << n;
    }
  });
}

// Finite differences of L = sum(y * r) through each forward kernel, against its backward kernel.
TEST(Activation, BackwardMatchesFiniteDifferences) {
  const int64_t n = 9;
  const auto x = random_vector(n, 32, -3, 3), r = random_vector(n, 33);
  using Fwd = std::function<void(const float*, int64_t, float*)>;
  using Bwd = std::function<void(const float*, const float*, int64_t, float*)>;
  const std::vector<std::pair<Fwd, Bwd>> ops = {
      {[](const float* a, int64_t m, float* y) { k::gelu_forward(GeluKind::Tanh, a, m, y); },
       [](const float* a, const float* d, int64_t m, float* g) {
         k::gelu_backward(GeluKind::Tanh, a, d, m, g, false);
       }},
      {[](const float* a, int64_t m, float* y) { k::gelu_forward(GeluKind::Erf, a, m, y); },
       [](const float* a, const float* d, int64_t m, float* g) { k::gelu_backward(GeluKind::Erf, a, d, m, g, false); }},
      {[](const float* a, int64_t m, float* y) { k::silu_forward(a, m, y); },
       [](const float* a, const float* d, int64_t m, float* g) { k::silu_backward(a, d, m, g, false); }},
      {[](const float* a, int64_t m, float* y) { k::tanh_forward(a, m, y); },
       [](const float* a, const float* d, int64_t m, float* g) {  // tanh's backward reads the output
         std::vector<float> y(static_cast<size_t>(m));
         k::tanh_forward(a, m, y.data());
         k::tanh_backward(y.data(), d, m, g, false);
       }},
  };
  for_each_isa([&](cpu::Isa) {
    for (const auto& [fwd, bwd] : ops) {
      std::vector<float> dx(n);
      bwd(x.data(), r.data(), n, dx.data());
      const auto num = numeric_grad(
          [&, &f = fwd](const std::vector<float>& v) {  // init-capture: clang 16 + OpenMP cannot capture a binding
            std::vector<float> y(n);
            f(v.data(), n, y.data());
            return dot(y, r);
          },
          x, 1e-2f);
      EXPECT_TRUE(all_close(dx, to_float(num), 2e-3, 2e-4));
    }
    // SwiGLU, through both halves of the fused projection.
    const int64_t N = 2, F = 3;
    const auto gu = random_vector(N * 2 * F, 34, -3, 3), ry = random_vector(N * F, 35);
    std::vector<float> d(N * 2 * F);
    k::swiglu_backward(gu.data(), ry.data(), N, F, d.data(), false);
    const auto num = numeric_grad(
        [&](const std::vector<float>& v) {
          std::vector<float> y(N * F);
          k::swiglu_forward(v.data(), N, F, y.data());
          return dot(y, ry);
        },
        gu, 1e-2f);
    EXPECT_TRUE(all_close(d, to_float(num), 2e-3, 2e-4));
  });
}

}  // namespace
}  // namespace cornerstone::testing

// AdamW over several steps against the update formula in double; sum_squares against a double sum,
// and its invariance across thread counts and ISA variants.
#include <cmath>
#include <vector>

#include "cornerstone/kernels/optim.h"
#include "kernel_test.h"

namespace cornerstone::testing {
namespace {

namespace k = cornerstone::kernels;

struct AdamState {
  std::vector<double> p, m, v;
};

// torch.optim.AdamW's update, in double.
void adamw_ref(AdamState& s, const std::vector<float>& g, const k::AdamWHyper& h) {
  const double bc1 = 1 - std::pow(h.beta1, h.step), bc2 = 1 - std::pow(h.beta2, h.step);
  for (size_t i = 0; i < g.size(); ++i) {
    s.p[i] *= 1 - h.lr * h.weight_decay;
    s.m[i] = h.beta1 * s.m[i] + (1 - h.beta1) * g[i];
    s.v[i] = h.beta2 * s.v[i] + (1 - h.beta2) * g[i] * g[i];
    s.p[i] -= h.lr / bc1 * s.m[i] / (std::sqrt(s.v[i]) / std::sqrt(bc2) + h.eps);
  }
}

TEST(AdamW, SeveralStepsMatchTheFormula) {
  for_each_isa([](cpu::Isa) {
    for (const int64_t n : {int64_t{1}, int64_t{7}, int64_t{33}, int64_t{100003}}) {
      SCOPED_TRACE(::testing::Message() << "n=" << n);
      k::AdamWHyper h;
      h.lr = 1e-2, h.beta1 = 0.9, h.beta2 = 0.95, h.eps = 1e-8, h.weight_decay = 0.1;
      std::vector<float> p = random_vector(n, 101, -1, 1), m(n, 0.0f), v(n, 0.0f);
      AdamState ref{std::vector<double>(p.begin(), p.end()), std::vector<double>(n), std::vector<double>(n)};
      for (int64_t step = 1; step <= 5; ++step) {
        // Gradients of changing scale and sign, some exactly zero.
        std::vector<float> g = random_vector(n, 102 + step, -1, 1);
        for (int64_t i = 0; i < n; ++i) g[i] = i % 11 == 3 ? 0.0f : g[i] * std::pow(10.0f, 1 - step);
        h.step = step;
        k::adamw_step(p.data(), g.data(), m.data(), v.data(), n, h);
        adamw_ref(ref, g, h);
      }
      EXPECT_TRUE(all_close(m, to_float(ref.m), 1e-5, 1e-9));
      EXPECT_TRUE(all_close(v, to_float(ref.v), 1e-5, 1e-12));
      EXPECT_TRUE(all_close(p, to_float(ref.p), 1e-6, 1e-7));
    }
  });
}

TEST(AdamW, ZeroGradientOnlyDecays) {
  k::AdamWHyper h;
  h.lr = 0.5, h.weight_decay = 0.2;
  std::vector<float> p = {1.0f, -2.0f, 4.0f}, g(3, 0.0f), m(3, 0.0f), v(3, 0.0f);
  k::adamw_step(p.data(), g.data(), m.data(), v.data(), 3, h);
  EXPECT_EQ(p, (std::vector<float>{0.9f, -1.8f, 3.6f}));
}

// Golden values from torch.optim.AdamW (PyTorch 1.13, Debian's build): torch.manual_seed(1),
// p0 = randn(16), g1 = randn(16), g2 = randn(16) * 1e-2, AdamW(lr=1e-2, betas=(0.9, 0.95),
// eps=1e-8, weight_decay=0.1), two steps. The kernel repeats ATen's fp32 roundings, so the
// parameters and both moments agree to the bit.
TEST(AdamW, TwoStepsMatchPyTorchBitwise) {
  const std::vector<float> p0 = {
      -1.5255959f, -0.750231802f, -0.653980911f, -1.60948479f, -0.100167178f, -0.609188914f, -0.97977227f,
      -1.60909629f, -0.712144613f, 0.303721994f, -0.777314305f, -0.251455247f, -0.222270489f, 1.6871134f,
      0.228425175f, 0.467635512f};
  const std::vector<float> g1 = {
      -0.69697243f, -1.16076148f, 0.699542403f, 0.19908163f, 0.865692377f, 0.244403899f, -0.662911355f,
      0.807308257f, 1.10168064f, -0.175936043f, -2.24555779f, -1.44645798f, 0.061155282f, -0.617744446f,
      -0.798069835f, -0.131623209f};
  const std::vector<float> g2 = {
      0.0187934581f, -0.000721317832f, 0.00157770596f, -0.00773454877f, 0.0019905651f, 0.000457027782f,
      0.00152956916f, -0.00475678779f, -0.00111019821f, 0.00292735244f, -0.00157845148f, -0.0002878714f,
      0.0235711094f, -0.0103733875f, 0.0157479811f, -0.00629847217f};
  const std::vector<float> p2 = {
      -1.50597572f, -0.731950939f, -0.669467032f, -1.62274575f, -0.116760738f, -0.62476176f, -0.961054683f,
      -1.62261164f, -0.727489948f, 0.319764912f, -0.758978724f, -0.234174624f, -0.24082984f, 1.70064306f,
      0.244594887f, 0.483829409f};
  const std::vector<float> m2 = {
      -0.0608481728f, -0.104540661f, 0.0631165877f, 0.0171438921f, 0.0781113729f, 0.0220420528f, -0.059509065f,
      0.0721820593f, 0.0990402326f, -0.0155415088f, -0.202258036f, -0.130209997f, 0.00786108617f,
      -0.0566343404f, -0.0702514872f, -0.0124759357f};
  const std::vector<float> v2 = {
      0.0230917633f, 0.0639999583f, 0.0232447051f, 0.00188558234f, 0.0355978049f, 0.00283734081f,
      0.0208740626f, 0.0309590939f, 0.0576508194f, 0.00147071946f, 0.239520282f, 0.0993814319f,
      0.000205428369f, 0.0181317702f, 0.0302658845f, 0.00082490535f};
  for_each_isa([&](cpu::Isa) {
    std::vector<float> p = p0, m(16, 0.0f), v(16, 0.0f);
    k::AdamWHyper h;
    h.lr = 1e-2, h.beta1 = 0.9, h.beta2 = 0.95, h.eps = 1e-8, h.weight_decay = 0.1;
    h.step = 1;
    k::adamw_step(p.data(), g1.data(), m.data(), v.data(), 16, h);
    h.step = 2;
    k::adamw_step(p.data(), g2.data(), m.data(), v.data(), 16, h);
    EXPECT_TRUE(bitwise_equal(p, p2));
    EXPECT_TRUE(bitwise_equal(m, m2));
    EXPECT_TRUE(bitwise_equal(v, v2));
  });
}

std::vector<float> sum_squares_input(int64_t n) {
  auto x = random_vector(n, 103, -3, 3);
  for (int64_t i = 0; i < n; i += 97) x[i] *= 1e4f;  // a wide dynamic range
  return x;
}

TEST(SumSquares, MatchesDoubleSum) {
  for_each_isa([](cpu::Isa) {
    for (const int64_t n : {int64_t{0}, int64_t{1}, int64_t{4095}, int64_t{4096}, int64_t{4097}, int64_t{1000003}}) {
      const auto x = sum_squares_input(n);
      long double e = 0;
      for (float v : x) e += static_cast<long double>(v) * v;
      EXPECT_NEAR(k::sum_squares(x.data(), n), static_cast<double>(e), 1e-13 * static_cast<double>(e)) << "n=" << n;
    }
  });
}

// Fixed blocks summed in order, exact squares: the same bits for any thread count and any ISA variant.
TEST(SumSquares, IdenticalForAnyThreadCountAndIsa) {
  const int64_t n = 1000003;
  const auto x = sum_squares_input(n);
  const double base = k::sum_squares(x.data(), n);
  for_each_isa([&](cpu::Isa) {
    for (int t = 1; t <= 2; ++t) {
      ThreadsScope threads(t);
      const double s = k::sum_squares(x.data(), n);
      EXPECT_EQ(std::memcmp(&s, &base, sizeof(double)), 0) << "threads=" << t;
    }
  });
}

}  // namespace
}  // namespace cornerstone::testing

// Layer norm and RMS norm against double-precision references. The backward references build the
// Jacobian of each row explicitly, d xhat_j / d x_k, rather than reuse the kernels' closed forms.
#include <cmath>
#include <vector>

#include "cornerstone/kernels/norm.h"
#include "kernel_test.h"

namespace cornerstone::testing {
namespace {

namespace k = cornerstone::kernels;

struct NormRef {
  std::vector<double> y, mean, rstd;
};

NormRef layernorm_ref(const std::vector<float>& x, const float* w, const float* b, int64_t N, int64_t C, double eps) {
  NormRef r{std::vector<double>(N * C), std::vector<double>(N), std::vector<double>(N)};
  for (int64_t i = 0; i < N; ++i) {
    double mu = 0, var = 0;
    for (int64_t j = 0; j < C; ++j) mu += x[i * C + j];
    mu /= C;
    for (int64_t j = 0; j < C; ++j) var += (x[i * C + j] - mu) * (x[i * C + j] - mu);
    var /= C;
    const double rs = 1 / std::sqrt(var + eps);
    for (int64_t j = 0; j < C; ++j)
      r.y[i * C + j] = (x[i * C + j] - mu) * rs * (w ? w[j] : 1.0) + (b ? b[j] : 0.0);
    r.mean[i] = mu, r.rstd[i] = rs;
  }
  return r;
}

NormRef rmsnorm_ref(const std::vector<float>& x, const float* w, int64_t N, int64_t C, double eps) {
  NormRef r{std::vector<double>(N * C), {}, std::vector<double>(N)};
  for (int64_t i = 0; i < N; ++i) {
    double ms = 0;
    for (int64_t j = 0; j < C; ++j) ms += static_cast<double>(x[i * C + j]) * x[i * C + j];
    const double rs = 1 / std::sqrt(ms / C + eps);
    for (int64_t j = 0; j < C; ++j) r.y[i * C + j] = x[i * C + j] * rs * (w ? w[j] : 1.0);
    r.rstd[i] = rs;
  }
  return r;
}

struct GradRef {
  std::vector<double> dx, dw, db;
};

// dx_k = sum_j dy_j w_j J_jk, with J_jk = d xhat_j / d x_k:
//   layer norm: rstd (delta_jk - 1/C - xhat_j xhat_k / C);  RMS norm: rstd (delta_jk - xhat_j xhat_k / C)
GradRef norm_backward_ref(bool layer, const std::vector<float>& dy, const std::vector<float>& x, const float* w,
                          int64_t N, int64_t C, double eps) {
  const NormRef f = layer ? layernorm_ref(x, nullptr, nullptr, N, C, eps) : rmsnorm_ref(x, nullptr, N, C, eps);
  GradRef g{std::vector<double>(N * C), std::vector<double>(C), std::vector<double>(C)};
  for (int64_t i = 0; i < N; ++i) {
    const double* xh = &f.y[i * C];  // unit-affine output is xhat
    for (int64_t k = 0; k < C; ++k) {
      double s = 0;
      for (int64_t j = 0; j < C; ++j) {
        const double jac = f.rstd[i] * ((j == k) - (layer ? 1.0 / C : 0.0) - xh[j] * xh[k] / C);
        s += dy[i * C + j] * (w ? w[j] : 1.0) * jac;
      }
      g.dx[i * C + k] = s;
    }
    for (int64_t j = 0; j < C; ++j) {
      g.dw[j] += dy[i * C + j] * xh[j];
      g.db[j] += dy[i * C + j];
    }
  }
  return g;
}

struct Shape {
  int64_t N, C;
};
// Tails (C % 16 != 0, C < 8), one row, and a case above the parallel grain (so threads split rows).
const Shape kShapes[] = {{1, 1}, {3, 7}, {4, 16}, {5, 45}, {2, 100}, {130, 260}};

TEST(LayerNorm, ForwardMatchesReference) {
  for_each_isa([](cpu::Isa) {
    for (const Shape s : kShapes) {
      SCOPED_TRACE(::testing::Message() << "N=" << s.N << " C=" << s.C);
      const auto x = random_vector(s.N * s.C, 1, -3, 5), w = random_vector(s.C, 2), b = random_vector(s.C, 3);
      for (const bool affine : {true, false}) {
        const float* wp = affine ? w.data() : nullptr;
        const float* bp = affine ? b.data() : nullptr;
        std::vector<float> y(s.N * s.C), mean(s.N), rstd(s.N);
        k::layernorm_forward(x.data(), wp, bp, s.N, s.C, 1e-5f, y.data(), mean.data(), rstd.data());
        const NormRef r = layernorm_ref(x, wp, bp, s.N, s.C, 1e-5);
        EXPECT_TRUE(all_close(y, to_float(r.y), 1e-5, 2e-6));
        EXPECT_TRUE(all_close(mean, to_float(r.mean), 1e-6, 1e-6));
        EXPECT_TRUE(all_close(rstd, to_float(r.rstd), 1e-5, 0));
      }
      // Only the weight, only the bias; saved statistics may be skipped (inference).
      std::vector<float> y(s.N * s.C);
      k::layernorm_forward(x.data(), w.data(), nullptr, s.N, s.C, 1e-5f, y.data(), nullptr, nullptr);
      EXPECT_TRUE(all_close(y, to_float(layernorm_ref(x, w.data(), nullptr, s.N, s.C, 1e-5).y), 1e-5, 2e-6));
      k::layernorm_forward(x.data(), nullptr, b.data(), s.N, s.C, 1e-5f, y.data(), nullptr, nullptr);
      EXPECT_TRUE(all_close(y, to_float(layernorm_ref(x, nullptr, b.data(), s.N, s.C, 1e-5).y), 1e-5, 2e-6));
    }
  });
}

TEST(LayerNorm, LargeMeanKeepsPrecision) {
  // var(x) = 1e-2 around a mean of 1e3: E[x^2] - E[x]^2 in fp32 would lose every digit.
  const int64_t C = 256;
  auto x = random_vector(C, 4, -0.17f, 0.17f);
  for (float& v : x) v += 1000.0f;
  std::vector<float> y(C), mean(1), rstd(1);
  for_each_isa([&](cpu::Isa) {
    k::layernorm_forward(x.data(), nullptr, nullptr, 1, C, 1e-5f, y.data(), mean.data(), rstd.data());
    EXPECT_TRUE(all_close(y, to_float(layernorm_ref(x, nullptr, nullptr, 1, C, 1e-5).y), 1e-3, 1e-3));
  });
}

void check_backward(bool layer) {
  for_each_isa([&](cpu::Isa) {
    for (const Shape s : kShapes) {
      SCOPED_TRACE(::testing::Message() << "N=" << s.N << " C=" << s.C);
      const auto x = random_vector(s.N * s.C, 5, -2, 2), w = random_vector(s.C, 6, 0.5f, 1.5f);
      const auto dy = random_vector(s.N * s.C, 7), dx0 = random_vector(s.N * s.C, 8);
      const auto dw0 = random_vector(s.C, 9), db0 = random_vector(s.C, 10);
      std::vector<float> y(s.N * s.C), mean(s.N), rstd(s.N);
      if (layer)
        k::layernorm_forward(x.data(), w.data(), nullptr, s.N, s.C, 1e-5f, y.data(), mean.data(), rstd.data());
      else
        k::rmsnorm_forward(x.data(), w.data(), s.N, s.C, 1e-5f, y.data(), rstd.data());
      for (const bool with_w : {true, false}) {
        const float* wp = with_w ? w.data() : nullptr;
        const GradRef r = norm_backward_ref(layer, dy, x, wp, s.N, s.C, 1e-5);
        for (const bool accumulate : {false, true}) {
          SCOPED_TRACE(::testing::Message() << "with_w=" << with_w << " accumulate=" << accumulate);
          std::vector<float> dx = dx0, dw = dw0, db = db0;
          if (layer)
            k::layernorm_backward(dy.data(), x.data(), wp, mean.data(), rstd.data(), s.N, s.C, dx.data(), accumulate,
                                  dw.data(), db.data());
          else
            k::rmsnorm_backward(dy.data(), x.data(), wp, rstd.data(), s.N, s.C, dx.data(), accumulate, dw.data());
          std::vector<double> edx = r.dx, edw = r.dw, edb = r.db;
          for (size_t i = 0; i < edx.size(); ++i) edx[i] += accumulate ? dx0[i] : 0.0;
          for (int64_t j = 0; j < s.C; ++j) edw[j] += dw0[j], edb[j] += db0[j];  // parameter grads always +=
          EXPECT_TRUE(all_close(dx, to_float(edx), 1e-4, 1e-5));
          EXPECT_TRUE(all_close(dw, to_float(edw), 1e-5, 1e-5));
          if (layer) {
            EXPECT_TRUE(all_close(db, to_float(edb), 1e-5, 1e-5));
          }
        }
      }
      // Null parameter gradients are skipped; dx is still right.
      std::vector<float> dx(s.N * s.C);
      if (layer)
        k::layernorm_backward(dy.data(), x.data(), w.data(), mean.data(), rstd.data(), s.N, s.C, dx.data(), false,
                              nullptr, nullptr);
      else
        k::rmsnorm_backward(dy.data(), x.data(), w.data(), rstd.data(), s.N, s.C, dx.data(), false, nullptr);
      EXPECT_TRUE(all_close(dx, to_float(norm_backward_ref(layer, dy, x, w.data(), s.N, s.C, 1e-5).dx), 1e-4, 1e-5));
    }
  });
}

TEST(LayerNorm, BackwardMatchesJacobian) { check_backward(true); }
TEST(RmsNorm, BackwardMatchesJacobian) { check_backward(false); }

TEST(RmsNorm, ForwardMatchesReference) {
  for_each_isa([](cpu::Isa) {
    for (const Shape s : kShapes) {
      SCOPED_TRACE(::testing::Message() << "N=" << s.N << " C=" << s.C);
      const auto x = random_vector(s.N * s.C, 11, -3, 5), w = random_vector(s.C, 12);
      for (const float* wp : {w.data(), static_cast<const float*>(nullptr)}) {
        std::vector<float> y(s.N * s.C), rstd(s.N);
        k::rmsnorm_forward(x.data(), wp, s.N, s.C, 1e-6f, y.data(), rstd.data());
        const NormRef r = rmsnorm_ref(x, wp, s.N, s.C, 1e-6);
        EXPECT_TRUE(all_close(y, to_float(r.y), 1e-5, 2e-6));
        EXPECT_TRUE(all_close(rstd, to_float(r.rstd), 1e-5, 0));
      }
    }
  });
}

// The parameter gradients are reduced in fixed row blocks, so 1 and 2 threads agree to the bit.
TEST(Norm, BackwardIsThreadCountInvariant) {
  const int64_t N = 333, C = 200;  // above the parallel grain; N not a multiple of the row block
  const auto x = random_vector(N * C, 13, -2, 2), w = random_vector(C, 14), dy = random_vector(N * C, 15);
  std::vector<float> y(N * C), mean(N), rstd(N);
  k::layernorm_forward(x.data(), w.data(), nullptr, N, C, 1e-5f, y.data(), mean.data(), rstd.data());
  for_each_isa([&](cpu::Isa) {
    std::vector<float> dx[2], dw[2], db[2], rdx[2], rdw[2];
    for (int t = 0; t < 2; ++t) {
      ThreadsScope threads(t + 1);
      dx[t].assign(N * C, 0), dw[t].assign(C, 0), db[t].assign(C, 0), rdx[t].assign(N * C, 0), rdw[t].assign(C, 0);
      k::layernorm_backward(dy.data(), x.data(), w.data(), mean.data(), rstd.data(), N, C, dx[t].data(), false,
                            dw[t].data(), db[t].data());
      k::rmsnorm_backward(dy.data(), x.data(), w.data(), rstd.data(), N, C, rdx[t].data(), false, rdw[t].data());
    }
    EXPECT_TRUE(bitwise_equal(dx[0], dx[1]));
    EXPECT_TRUE(bitwise_equal(dw[0], dw[1]));
    EXPECT_TRUE(bitwise_equal(db[0], db[1]));
    EXPECT_TRUE(bitwise_equal(rdx[0], rdx[1]));
    EXPECT_TRUE(bitwise_equal(rdw[0], rdw[1]));
  });
}

// The fused group norm (+ relu) agrees across ISAs and thread counts (bit for bit across threads),
// with positions per channel below, at and above a vector width (ResNet stages have 64 down to 1).
// Its values against PyTorch are tests/ops/test_image_ops.cpp's.
TEST(GroupNorm, VariantsAgreeAndThreadCountsGiveTheSameBits) {
  for (const int64_t S : {1, 4, 16, 37}) {
    const int64_t B = 5, C = 48, G = 6, n = B * C * S;
    const auto x = random_vector(n, 31, -2, 3), w = random_vector(C, 32, 0.5f, 1.5f), b = random_vector(C, 33),
               dy = random_vector(n, 34);
    for (const bool relu : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "S " << S << (relu ? " relu" : ""));
      std::vector<float> first_y, first_dx, first_dw;
      for_each_isa([&](cpu::Isa) {
        std::vector<float> y[2], dx[2], dw[2], db[2];
        for (int t = 0; t < 2; ++t) {
          ThreadsScope threads(t + 1);
          std::vector<float> mean(B * G), rstd(B * G);
          y[t].assign(n, 0), dx[t].assign(n, 1), dw[t].assign(C, 0), db[t].assign(C, 0);
          k::groupnorm_forward(x.data(), w.data(), b.data(), B, C, S, G, 1e-5f, relu, y[t].data(), mean.data(), rstd.data());
          k::groupnorm_backward(dy.data(), x.data(), relu ? y[t].data() : nullptr, w.data(), mean.data(), rstd.data(), B, C, S,
                                G, dx[t].data(), t == 1, dw[t].data(), db[t].data());
        }
        EXPECT_TRUE(bitwise_equal(y[0], y[1]));
        for (float& v : dx[1]) v -= 1;  // the second ran accumulating onto ones
        EXPECT_TRUE(all_close(dx[1], dx[0], 1e-6, 1e-6));
        EXPECT_TRUE(bitwise_equal(dw[0], dw[1]));
        EXPECT_TRUE(bitwise_equal(db[0], db[1]));
        if (relu) {
          for (float v : y[0]) ASSERT_GE(v, 0.0f);
        }
        if (first_y.empty()) {
          first_y = y[0], first_dx = dx[0], first_dw = dw[0];
        } else {
          EXPECT_TRUE(all_close(y[0], first_y, 1e-5, 1e-5));
          EXPECT_TRUE(all_close(dx[0], first_dx, 1e-4, 1e-5));
          EXPECT_TRUE(all_close(dw[0], first_dw, 1e-4, 1e-5));
        }
      });
    }
  }
}

// Finite differences of L = sum(y * r) through the forward kernels, against the backward kernels.
void check_finite_differences(bool layer) {
  const int64_t N = 2, C = 5;
  const auto x = random_vector(N * C, 16, -2, 2), w = random_vector(C, 17, 0.5f, 1.5f), b = random_vector(C, 18);
  const auto r = random_vector(N * C, 19);
  auto loss = [&](const std::vector<float>& xv, const std::vector<float>& wv, const std::vector<float>& bv) {
    std::vector<float> y(N * C), mean(N), rstd(N);
    if (layer)
      k::layernorm_forward(xv.data(), wv.data(), bv.data(), N, C, 1e-5f, y.data(), mean.data(), rstd.data());
    else
      k::rmsnorm_forward(xv.data(), wv.data(), N, C, 1e-5f, y.data(), rstd.data());
    return dot(y, r);
  };
  for_each_isa([&](cpu::Isa) {
    std::vector<float> y(N * C), mean(N), rstd(N), dx(N * C), dw(C), db(C);
    if (layer) {
      k::layernorm_forward(x.data(), w.data(), b.data(), N, C, 1e-5f, y.data(), mean.data(), rstd.data());
      k::layernorm_backward(r.data(), x.data(), w.data(), mean.data(), rstd.data(), N, C, dx.data(), false, dw.data(),
                            db.data());
    } else {
      k::rmsnorm_forward(x.data(), w.data(), N, C, 1e-5f, y.data(), rstd.data());
      k::rmsnorm_backward(r.data(), x.data(), w.data(), rstd.data(), N, C, dx.data(), false, dw.data());
    }
    const auto ndx = numeric_grad([&](const std::vector<float>& v) { return loss(v, w, b); }, x, 1e-2f);
    const auto ndw = numeric_grad([&](const std::vector<float>& v) { return loss(x, v, b); }, w, 1e-2f);
    EXPECT_TRUE(all_close(dx, to_float(ndx), 2e-3, 2e-4));
    EXPECT_TRUE(all_close(dw, to_float(ndw), 2e-3, 2e-4));
    if (layer) {
      const auto ndb = numeric_grad([&](const std::vector<float>& v) { return loss(x, w, v); }, b, 1e-2f);
      EXPECT_TRUE(all_close(db, to_float(ndb), 2e-3, 2e-4));
    }
  });
}

TEST(LayerNorm, BackwardMatchesFiniteDifferences) { check_finite_differences(true); }
TEST(RmsNorm, BackwardMatchesFiniteDifferences) { check_finite_differences(false); }

}  // namespace
}  // namespace cornerstone::testing

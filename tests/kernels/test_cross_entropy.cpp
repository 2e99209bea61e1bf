// Cross-entropy against double-precision references, and the fused LM head against the unfused
// computation (logits by a naive matmul in double, then cross-entropy in double).
#include <cmath>
#include <vector>

#include "cornerstone/kernels/cross_entropy.h"
#include "kernel_test.h"

namespace cornerstone::testing {
namespace {

namespace k = cornerstone::kernels;

// Targets in [0, V), with every `ignore_every`-th row (and a run of rows) ignored when asked.
std::vector<int32_t> make_targets(int64_t N, int64_t V, uint64_t seed, bool with_ignored) {
  const auto u = random_vector(N, seed, 0, 1);
  std::vector<int32_t> t(N);
  for (int64_t i = 0; i < N; ++i) t[i] = std::min<int32_t>(static_cast<int32_t>(u[i] * V), V - 1);
  if (with_ignored)
    for (int64_t i = 0; i < N; ++i)
      if (i % 5 == 1 || (i >= N / 2 && i < N / 2 + 7)) t[i] = -100;  // PyTorch's default ignore_index
  return t;
}

struct CeRef {
  std::vector<double> loss, lse, dlogits;  // dlogits of sum_i dloss_i loss_i
};

CeRef ce_ref(const std::vector<double>& logits, const std::vector<int32_t>& t, const std::vector<float>& dloss,
             int64_t N, int64_t V) {
  CeRef r{std::vector<double>(N), std::vector<double>(N), std::vector<double>(N * V)};
  for (int64_t i = 0; i < N; ++i) {
    const double* l = &logits[i * V];
    double m = -INFINITY, s = 0;
    for (int64_t j = 0; j < V; ++j) m = std::max(m, l[j]);
    for (int64_t j = 0; j < V; ++j) s += std::exp(l[j] - m);
    r.lse[i] = m + std::log(s);
    if (t[i] < 0) continue;
    r.loss[i] = r.lse[i] - l[t[i]];
    for (int64_t j = 0; j < V; ++j) r.dlogits[i * V + j] = dloss[i] * (std::exp(l[j] - r.lse[i]) - (j == t[i]));
  }
  return r;
}

struct Shape {
  int64_t N, V;
};
const Shape kShapes[] = {{1, 1}, {3, 7}, {4, 16}, {6, 45}, {5, 1000}, {60, 1001}};

TEST(CrossEntropy, ForwardAndBackwardMatchReference) {
  for_each_isa([](cpu::Isa) {
    for (const Shape s : kShapes) {
      for (const bool ignored : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "N=" << s.N << " V=" << s.V << " ignored=" << ignored);
        auto logits = random_vector(s.N * s.V, 51, -8, 8);
        logits[0] += 300.0f;  // a large logit: only a max-subtracted logsumexp survives it
        const auto t = make_targets(s.N, s.V, 52, ignored);
        const auto dloss = random_vector(s.N, 53, 0.5f, 2.0f), d0 = random_vector(s.N * s.V, 54);
        const CeRef r = ce_ref(std::vector<double>(logits.begin(), logits.end()), t, dloss, s.N, s.V);
        std::vector<float> losses(s.N, 7.0f), lse(s.N);
        k::cross_entropy_forward(logits.data(), t.data(), s.N, s.V, losses.data(), lse.data());
        EXPECT_TRUE(all_close(losses, to_float(r.loss), 1e-5, 2e-6));
        EXPECT_TRUE(all_close(lse, to_float(r.lse), 1e-6, 1e-6));
        for (const bool accumulate : {false, true}) {
          SCOPED_TRACE(::testing::Message() << "accumulate=" << accumulate);
          std::vector<float> d = d0;
          k::cross_entropy_backward(logits.data(), lse.data(), t.data(), dloss.data(), s.N, s.V, d.data(), accumulate);
          std::vector<double> e = r.dlogits;  // 0 in ignored rows
          for (size_t i = 0; i < e.size(); ++i) e[i] += accumulate ? d0[i] : 0.0;
          EXPECT_TRUE(all_close(d, to_float(e), 1e-5, 1e-7));
        }
      }
    }
  });
}

TEST(CrossEntropy, LseMayBeSkipped) {
  const auto logits = random_vector(3 * 10, 55, -3, 3);
  const auto t = make_targets(3, 10, 56, false);
  std::vector<float> a(3), b(3), lse(3);
  k::cross_entropy_forward(logits.data(), t.data(), 3, 10, a.data(), lse.data());
  k::cross_entropy_forward(logits.data(), t.data(), 3, 10, b.data(), nullptr);
  EXPECT_TRUE(bitwise_equal(a, b));
}

TEST(CrossEntropy, BackwardMatchesFiniteDifferences) {
  const int64_t N = 3, V = 5;
  const auto logits = random_vector(N * V, 57, -2, 2), dloss = random_vector(N, 58, 0.5f, 1.5f);
  const std::vector<int32_t> t = {2, -1, 4};
  for_each_isa([&](cpu::Isa) {
    std::vector<float> losses(N), lse(N), d(N * V);
    k::cross_entropy_forward(logits.data(), t.data(), N, V, losses.data(), lse.data());
    k::cross_entropy_backward(logits.data(), lse.data(), t.data(), dloss.data(), N, V, d.data(), false);
    const auto num = numeric_grad(
        [&](const std::vector<float>& v) {
          std::vector<float> lv(N), sv(N);
          k::cross_entropy_forward(v.data(), t.data(), N, V, lv.data(), sv.data());
          return dot(lv, dloss);
        },
        logits, 1e-2f);
    EXPECT_TRUE(all_close(d, to_float(num), 2e-3, 2e-4));
  });
}

// ---- the fused LM head ------------------------------------------------------------------------

struct LmHeadCase {
  int64_t N, C, V;
  bool bias, ignored;
};

// Unfused reference: logits = h W^T + b in double, CE in double, then dh = g W, dW = g^T h, db = sum g
// with g = grad_scale * dlogits (rounded to bf16 for dh and dW with bf16_grad).
struct LmHeadRef {
  std::vector<double> loss, dh, dw, db;
};
LmHeadRef lm_head_ref(const std::vector<float>& h, const std::vector<float>& w, const float* b,
                      const std::vector<int32_t>& t, int64_t N, int64_t C, int64_t V, float grad_scale,
                      bool bf16_grad = false) {
  std::vector<double> logits(N * V);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t v = 0; v < V; ++v) {
      double s = b ? b[v] : 0.0;
      for (int64_t c = 0; c < C; ++c) s += static_cast<double>(h[i * C + c]) * w[v * C + c];
      logits[i * V + v] = s;
    }
  const CeRef ce = ce_ref(logits, t, std::vector<float>(N, grad_scale), N, V);
  LmHeadRef r{ce.loss, std::vector<double>(N * C), std::vector<double>(V * C), std::vector<double>(V)};
  for (int64_t i = 0; i < N; ++i)
    for (int64_t v = 0; v < V; ++v) {
      double g = ce.dlogits[i * V + v];
      r.db[v] += g;
      if (bf16_grad) g = bf16_to_f32(f32_to_bf16(static_cast<float>(g)));  // as the backward GEMMs take it
      for (int64_t c = 0; c < C; ++c) {
        r.dh[i * C + c] += g * w[v * C + c];
        r.dw[v * C + c] += g * h[i * C + c];
      }
    }
  return r;
}

// N = 300 spans two chunks of 256 rows (three of 128 rows once V > 32768); the ignored rows make the
// chunks non-contiguous (gather / scatter path), move the chunk boundaries and leave the last chunk
// with a partial vector of tokens.
const LmHeadCase kLmHeadCases[] = {
    {1, 3, 5, true, false},     {7, 17, 33, false, false}, {300, 20, 70, true, false},
    {300, 20, 70, true, true},  {300, 19, 45, false, true}, {300, 5, 33000, true, true},
};

TEST(LmHeadCrossEntropy, MatchesUnfused) {
  const float grad_scale = 0.37f;
  for (const LmHeadCase& c : kLmHeadCases) {
    SCOPED_TRACE(::testing::Message() << "N=" << c.N << " C=" << c.C << " V=" << c.V << " bias=" << c.bias
                                      << " ignored=" << c.ignored);
    const auto h = random_vector(c.N * c.C, 61, -1, 1), w = random_vector(c.V * c.C, 62, -0.5f, 0.5f);
    const auto b = random_vector(c.V, 63);
    const auto t = make_targets(c.N, c.V, 64, c.ignored);
    const float* bp = c.bias ? b.data() : nullptr;
    const LmHeadRef r = lm_head_ref(h, w, bp, t, c.N, c.C, c.V, grad_scale);
    const auto dw0 = random_vector(c.V * c.C, 65), db0 = random_vector(c.V, 66);
    std::vector<double> edw = r.dw, edb = r.db;  // parameter gradients are added into
    for (size_t i = 0; i < edw.size(); ++i) edw[i] += dw0[i];
    for (size_t i = 0; i < edb.size(); ++i) edb[i] += db0[i];
    for_each_isa([&](cpu::Isa) {
      std::vector<float> losses(c.N, 7.0f), dh(c.N * c.C, 7.0f), dw = dw0, db = db0;
      k::lm_head_cross_entropy(h.data(), w.data(), bp, t.data(), c.N, c.C, c.V, grad_scale, losses.data(), dh.data(),
                               dw.data(), db.data());
      EXPECT_TRUE(all_close(losses, to_float(r.loss), 1e-5, 2e-6));
      EXPECT_TRUE(all_close(dh, to_float(r.dh), 1e-4, 1e-6));  // dh is overwritten (0 in ignored rows)
      EXPECT_TRUE(all_close(dw, to_float(edw), 1e-4, 1e-6));
      EXPECT_TRUE(all_close(db, to_float(edb), 1e-4, 1e-6));

      // Null gradients are skipped; the others and the losses are unchanged.
      std::vector<float> losses2(c.N), dh2(c.N * c.C);
      k::lm_head_cross_entropy(h.data(), w.data(), bp, t.data(), c.N, c.C, c.V, grad_scale, losses2.data(), dh2.data(),
                               nullptr, nullptr);
      EXPECT_TRUE(bitwise_equal(losses, losses2));
      EXPECT_TRUE(bitwise_equal(dh, dh2));
      std::vector<float> losses3(c.N), dw3 = dw0;
      k::lm_head_cross_entropy(h.data(), w.data(), bp, t.data(), c.N, c.C, c.V, grad_scale, losses3.data(), nullptr,
                               dw3.data(), nullptr);
      EXPECT_TRUE(all_close(dw3, to_float(edw), 1e-4, 1e-6));
      std::vector<float> losses4(c.N);  // loss only (evaluation)
      k::lm_head_cross_entropy(h.data(), w.data(), bp, t.data(), c.N, c.C, c.V, grad_scale, losses4.data(), nullptr,
                               nullptr, nullptr);
      EXPECT_TRUE(bitwise_equal(losses, losses4));
    });
  }
}

TEST(LmHeadCrossEntropy, AllRowsIgnored) {
  const int64_t N = 4, C = 3, V = 6;
  const auto h = random_vector(N * C, 67), w = random_vector(V * C, 68);
  const std::vector<int32_t> t(N, -1);
  std::vector<float> losses(N, 7.0f), dh(N * C, 7.0f), dw(V * C, 1.0f), db(V, 1.0f);
  k::lm_head_cross_entropy(h.data(), w.data(), nullptr, t.data(), N, C, V, 1.0f, losses.data(), dh.data(), dw.data(),
                           db.data());
  EXPECT_EQ(losses, std::vector<float>(N, 0.0f));
  EXPECT_EQ(dh, std::vector<float>(N * C, 0.0f));
  EXPECT_EQ(dw, std::vector<float>(V * C, 1.0f));
  EXPECT_EQ(db, std::vector<float>(V, 1.0f));
}

// Same inputs, same thread count: the same bits (the project's reproducible loss curves rely on it).
TEST(LmHeadCrossEntropy, RepeatsBitwise) {
  const int64_t N = 300, C = 24, V = 100;
  const auto h = random_vector(N * C, 72), w = random_vector(V * C, 73), b = random_vector(V, 74);
  const auto t = make_targets(N, V, 75, true);
  ThreadsScope threads(2);
  std::vector<float> losses[2], dh[2], dw[2], db[2];
  for (int run = 0; run < 2; ++run) {
    losses[run].assign(N, 0), dh[run].assign(N * C, 0), dw[run].assign(V * C, 0), db[run].assign(V, 0);
    k::lm_head_cross_entropy(h.data(), w.data(), b.data(), t.data(), N, C, V, 0.5f, losses[run].data(),
                             dh[run].data(), dw[run].data(), db[run].data());
  }
  EXPECT_TRUE(bitwise_equal(losses[0], losses[1]));
  EXPECT_TRUE(bitwise_equal(dh[0], dh[1]));
  EXPECT_TRUE(bitwise_equal(dw[0], dw[1]));
  EXPECT_TRUE(bitwise_equal(db[0], db[1]));
}

// Blocks of the vocabulary: results do not depend on how many threads share a block.
TEST(LmHeadCrossEntropy, DoesNotDependOnThreadCount) {
  const int64_t N = 300, C = 24, V = 33000;  // several blocks of rows, two chunks
  const auto h = random_vector(N * C, 76), w = random_vector(V * C, 77, -0.2f, 0.2f), b = random_vector(V, 78);
  const auto t = make_targets(N, V, 79, true);
  std::vector<float> losses[2], dh[2], dw[2], db[2];
  for (int threads : {1, 2}) {
    ThreadsScope scope(threads);
    const int i = threads - 1;
    losses[i].assign(N, 0), dh[i].assign(N * C, 0), dw[i].assign(V * C, 0), db[i].assign(V, 0);
    k::lm_head_cross_entropy(h.data(), w.data(), b.data(), t.data(), N, C, V, 0.5f, losses[i].data(), dh[i].data(),
                             dw[i].data(), db[i].data());
  }
  EXPECT_TRUE(bitwise_equal(losses[0], losses[1]));
  EXPECT_TRUE(bitwise_equal(db[0], db[1]));
  EXPECT_TRUE(all_close(dh[0], dh[1], 1e-5, 1e-7));  // the GEMM library may split its sums by thread
  EXPECT_TRUE(all_close(dw[0], dw[1], 1e-5, 1e-7));
}

// Mixed precision: h and W in bf16. The reference takes the same bf16 values exactly (in double);
// the loss is fp32 work on exact products, so it stays at fp32 accuracy; the backward GEMMs take
// the logits' gradient rounded to bf16, as the reference does for them.
TEST(LmHeadCrossEntropy, Bf16MatchesUnfusedOnTheRoundedOperands) {
  const float grad_scale = 0.37f;
  for (const LmHeadCase& c : kLmHeadCases) {
    SCOPED_TRACE(::testing::Message() << "N=" << c.N << " C=" << c.C << " V=" << c.V << " bias=" << c.bias
                                      << " ignored=" << c.ignored);
    auto h = random_vector(c.N * c.C, 81, -1, 1), w = random_vector(c.V * c.C, 82, -0.5f, 0.5f);
    std::vector<bf16> hb(h.size()), wb(w.size());
    for (size_t i = 0; i < h.size(); ++i) hb[i] = f32_to_bf16(h[i]), h[i] = bf16_to_f32(hb[i]);
    for (size_t i = 0; i < w.size(); ++i) wb[i] = f32_to_bf16(w[i]), w[i] = bf16_to_f32(wb[i]);
    const auto b = random_vector(c.V, 83);
    const auto t = make_targets(c.N, c.V, 84, c.ignored);
    const float* bp = c.bias ? b.data() : nullptr;
    const LmHeadRef r = lm_head_ref(h, w, bp, t, c.N, c.C, c.V, grad_scale, /*bf16_grad=*/true);
    for_each_isa([&](cpu::Isa) {
      std::vector<float> losses(c.N, 7.0f), dh(c.N * c.C, 7.0f), dw(c.V * c.C, 0.0f), db(c.V, 0.0f);
      k::lm_head_cross_entropy_bf16(hb.data(), wb.data(), bp, t.data(), c.N, c.C, c.V, grad_scale, losses.data(),
                                    dh.data(), dw.data(), db.data());
      EXPECT_TRUE(all_close(losses, to_float(r.loss), 1e-5, 2e-6));
      EXPECT_TRUE(all_close(db, to_float(r.db), 1e-4, 1e-6));  // summed before the rounding
      // atol: a gradient element at a rounding tie may land one bf16 step away from the reference's.
      EXPECT_TRUE(all_close(dh, to_float(r.dh), 1e-3, 1e-4));
      EXPECT_TRUE(all_close(dw, to_float(r.dw), 1e-3, 1e-4));
    });
  }
}

// Finite differences of sum_i losses_i with respect to h, W and b, against dh, dW, db (grad_scale 1).
TEST(LmHeadCrossEntropy, GradientsMatchFiniteDifferences) {
  const int64_t N = 3, C = 4, V = 5;
  const auto h = random_vector(N * C, 69), w = random_vector(V * C, 70), b = random_vector(V, 71);
  const std::vector<int32_t> t = {1, -1, 4};
  auto total = [&](const std::vector<float>& hv, const std::vector<float>& wv, const std::vector<float>& bv) {
    std::vector<float> losses(N);
    k::lm_head_cross_entropy(hv.data(), wv.data(), bv.data(), t.data(), N, C, V, 1.0f, losses.data(), nullptr, nullptr,
                             nullptr);
    double s = 0;
    for (float l : losses) s += l;
    return s;
  };
  for_each_isa([&](cpu::Isa) {
    std::vector<float> losses(N), dh(N * C), dw(V * C, 0.0f), db(V, 0.0f);
    k::lm_head_cross_entropy(h.data(), w.data(), b.data(), t.data(), N, C, V, 1.0f, losses.data(), dh.data(),
                             dw.data(), db.data());
    const auto ndh = numeric_grad([&](const std::vector<float>& v) { return total(v, w, b); }, h, 1e-2f);
    const auto ndw = numeric_grad([&](const std::vector<float>& v) { return total(h, v, b); }, w, 1e-2f);
    const auto ndb = numeric_grad([&](const std::vector<float>& v) { return total(h, w, v); }, b, 1e-2f);
    EXPECT_TRUE(all_close(dh, to_float(ndh), 2e-3, 2e-4));
    EXPECT_TRUE(all_close(dw, to_float(ndw), 2e-3, 2e-4));
    EXPECT_TRUE(all_close(db, to_float(ndb), 2e-3, 2e-4));
  });
}

}  // namespace
}  // namespace cornerstone::testing

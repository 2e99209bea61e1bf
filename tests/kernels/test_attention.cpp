// Fused attention against a naive double-precision reference that materialises the softmax, for
// every ISA variant: MHA and GQA, causal and not, q_len < kv_len (KV-cache decoding and chunked
// prefill), odd lengths, several head sizes, q/k/v read from one fused QKV projection. The backward
// is also checked against finite differences of the kernel's own forward.
#include <omp.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "cornerstone/core/error.h"
#include "cornerstone/kernels/attention.h"
#include "support/test_util.h"

namespace cornerstone::testing {
namespace {

using kernels::AttentionDims;
using kernels::HeadsView;

class Threads {  // sets the OpenMP thread count for a scope
 public:
  explicit Threads(int n) : prev_(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~Threads() { omp_set_num_threads(prev_); }

 private:
  int prev_;
};

template <class Body>
void each_isa(Body&& body) {
  for (cpu::Isa isa : available_isas()) {
    IsaScope scope(isa);
    SCOPED_TRACE("isa=" + std::string(cpu::isa_name(isa)));
    body();
  }
}

// One (B, T, H, D) operand in its own buffer, or a slice of a fused buffer; `pad` extra floats per
// token make the token stride differ from H * D.
struct Operand {
  std::vector<float>* buf;
  int64_t offset, batch_stride, token_stride, head_stride;
  HeadsView<float> view() { return {buf->data() + offset, batch_stride, token_stride, head_stride}; }
  HeadsView<const float> cview() { return {buf->data() + offset, batch_stride, token_stride, head_stride}; }
  float& at(int64_t b, int64_t t, int64_t h, int64_t d) {
    return (*buf)[offset + b * batch_stride + t * token_stride + h * head_stride + d];
  }
};

// All tensors of one problem. Fused: q, k, v are the three slices of a (B, T, (Hq + 2 Hkv) D) QKV
// projection, and dq, dk, dv slices of its gradient; out has a padded token stride.
struct Problem {
  AttentionDims dims;
  std::vector<float> qkv, kv, dqkv, dkv, o, g, lse;
  Operand q, k, v, dq, dk, dv, out, dout;

  Problem(AttentionDims d, bool fused, uint64_t seed, float spread = 1.0f) : dims(d) {
    const int64_t B = d.batch, Tq = d.q_len, Tk = d.kv_len, Hq = d.n_heads, Hk = d.n_kv_heads, D = d.head_dim;
    if (fused) {  // requires Tq == Tk
      const int64_t ts = (Hq + 2 * Hk) * D;
      qkv = random_vector(B * Tq * ts, seed, -spread, spread);
      dqkv.assign(qkv.size(), NAN);
      q = {&qkv, 0, Tq * ts, ts, D}, k = {&qkv, Hq * D, Tq * ts, ts, D}, v = {&qkv, (Hq + Hk) * D, Tq * ts, ts, D};
      dq = {&dqkv, 0, Tq * ts, ts, D}, dk = {&dqkv, Hq * D, Tq * ts, ts, D}, dv = {&dqkv, (Hq + Hk) * D, Tq * ts, ts, D};
    } else {
      qkv = random_vector(B * Tq * Hq * D, seed, -spread, spread);
      kv = random_vector(2 * B * Tk * Hk * D, seed + 1, -spread, spread);
      dqkv.assign(qkv.size(), NAN);
      dkv.assign(kv.size(), NAN);
      q = {&qkv, 0, Tq * Hq * D, Hq * D, D};
      k = {&kv, 0, Tk * Hk * D, Hk * D, D}, v = {&kv, B * Tk * Hk * D, Tk * Hk * D, Hk * D, D};
      dq = {&dqkv, 0, Tq * Hq * D, Hq * D, D};
      dk = {&dkv, 0, Tk * Hk * D, Hk * D, D}, dv = {&dkv, B * Tk * Hk * D, Tk * Hk * D, Hk * D, D};
    }
    const int64_t pad = fused ? 8 : 0;  // out rows (Hq D + pad) apart; the pad must stay untouched
    o.assign(B * Tq * (Hq * D + pad), NAN);
    out = {&o, 0, Tq * (Hq * D + pad), Hq * D + pad, D};
    g = random_vector(B * Tq * Hq * D, seed + 2);
    dout = {&g, 0, Tq * Hq * D, Hq * D, D};
    lse.assign(B * Hq * Tq, NAN);
  }

  void forward() { kernels::attention_forward(dims, q.cview(), k.cview(), v.cview(), out.view(), lse.data()); }
  void backward() {
    kernels::attention_backward(dims, q.cview(), k.cview(), v.cview(), out.cview(), dout.cview(), lse.data(),
                                dq.view(), dk.view(), dv.view());
  }

  // Gathers operand x into a dense (B, T, H, D) vector.
  std::vector<float> dense(Operand& x, int64_t T, int64_t H) {
    const int64_t B = dims.batch, D = dims.head_dim;
    std::vector<float> r;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t d = 0; d < D; ++d) r.push_back(x.at(b, t, h, d));
    return r;
  }
};

// The reference: softmax materialised per query row, in double.
struct Reference {
  std::vector<double> out, lse, dq, dk, dv;  // (B, Tq, Hq, D), (B, Hq, Tq), dq like q, dk/dv (B, Tk, Hkv, D)
};

Reference reference(Problem& p) {
  const AttentionDims& d = p.dims;
  const int64_t B = d.batch, Tq = d.q_len, Tk = d.kv_len, Hq = d.n_heads, Hk = d.n_kv_heads, D = d.head_dim;
  const int64_t G = Hq / Hk;
  Reference r;
  r.out.assign(B * Tq * Hq * D, 0), r.lse.assign(B * Hq * Tq, 0), r.dq.assign(B * Tq * Hq * D, 0);
  r.dk.assign(B * Tk * Hk * D, 0), r.dv.assign(B * Tk * Hk * D, 0);
  std::vector<double> s(Tk), dp(Tk);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hq; ++h)
      for (int64_t i = 0; i < Tq; ++i) {
        const int64_t g = h / G, nvis = d.causal ? Tk - Tq + i + 1 : Tk;
        double mx = -INFINITY;
        for (int64_t j = 0; j < nvis; ++j) {
          double acc = 0;
          for (int64_t x = 0; x < D; ++x) acc += double(p.q.at(b, i, h, x)) * p.k.at(b, j, g, x);
          s[j] = acc * d.scale, mx = std::max(mx, s[j]);
        }
        double l = 0;
        for (int64_t j = 0; j < nvis; ++j) l += s[j] = std::exp(s[j] - mx);  // s now holds P * l
        for (int64_t j = 0; j < nvis; ++j) s[j] /= l;
        r.lse[(b * Hq + h) * Tq + i] = mx + std::log(l);
        double* o = &r.out[((b * Tq + i) * Hq + h) * D];
        for (int64_t j = 0; j < nvis; ++j)
          for (int64_t x = 0; x < D; ++x) o[x] += s[j] * p.v.at(b, j, g, x);
        // Backward: dP = dO V^T, dS = P (dP - rowsum(P dP)), dq = scale dS K, dk = scale dS^T q, dv = P^T dO.
        double di = 0;
        for (int64_t j = 0; j < nvis; ++j) {
          dp[j] = 0;
          for (int64_t x = 0; x < D; ++x) dp[j] += double(p.dout.at(b, i, h, x)) * p.v.at(b, j, g, x);
          di += s[j] * dp[j];
        }
        for (int64_t j = 0; j < nvis; ++j) {
          const double ds = s[j] * (dp[j] - di) * d.scale;
          for (int64_t x = 0; x < D; ++x) {
            r.dq[((b * Tq + i) * Hq + h) * D + x] += ds * p.k.at(b, j, g, x);
            r.dk[((b * Tk + j) * Hk + g) * D + x] += ds * p.q.at(b, i, h, x);
            r.dv[((b * Tk + j) * Hk + g) * D + x] += s[j] * p.dout.at(b, i, h, x);
          }
        }
      }
  return r;
}

std::vector<float> to_float(const std::vector<double>& v) { return {v.begin(), v.end()}; }

// Tolerance: fp32 accumulation over D products and over up to Tq * G rows. Relative to the largest
// reference value, so that gradients near zero do not demand a relative precision fp32 cannot give;
// the floor covers gradients that are exactly 0 (one visible key) yet sums of O(0.01) fp32 terms.
::testing::AssertionResult close(const std::vector<float>& actual, const std::vector<double>& expected,
                                 double rtol = 1e-5) {
  double scale = 1e-2;
  for (double e : expected) scale = std::max(scale, std::fabs(e));
  return all_close(actual, to_float(expected), rtol, rtol * scale);
}

struct Case {
  const char* name;
  int64_t B, Tq, Tk, Hq, Hk, D;
  bool causal, fused;
};

AttentionDims dims_of(const Case& c) {
  AttentionDims d;
  d.batch = c.B, d.q_len = c.Tq, d.kv_len = c.Tk, d.n_heads = c.Hq, d.n_kv_heads = c.Hk, d.head_dim = c.D;
  d.scale = 1.0f / std::sqrt(static_cast<float>(c.D)), d.causal = c.causal;
  return d;
}

void check_against_reference(const Case& c, bool backward) {
  SCOPED_TRACE(c.name);
  Problem p(dims_of(c), c.fused, 42);
  const Reference ref = reference(p);
  each_isa([&] {
    std::fill(p.o.begin(), p.o.end(), NAN);
    p.forward();
    EXPECT_TRUE(close(p.dense(p.out, c.Tq, c.Hq), ref.out)) << "out";
    EXPECT_TRUE(close(p.lse, ref.lse)) << "lse";
    if (c.fused) {  // the 8 padding floats after each token's output rows are not written
      for (int64_t row = 0; row < c.B * c.Tq; ++row)
        for (int64_t x = 0; x < 8; ++x) ASSERT_TRUE(std::isnan(p.o[row * (c.Hq * c.D + 8) + c.Hq * c.D + x]));
    }
    if (!backward) return;
    p.backward();  // dq, dk, dv start as NaN: overwritten, not accumulated
    EXPECT_TRUE(close(p.dense(p.dq, c.Tq, c.Hq), ref.dq, 2e-5)) << "dq";
    EXPECT_TRUE(close(p.dense(p.dk, c.Tk, c.Hk), ref.dk, 2e-5)) << "dk";
    EXPECT_TRUE(close(p.dense(p.dv, c.Tk, c.Hk), ref.dv, 2e-5)) << "dv";
  });
}

// Lengths around the 64-row and 64-key blocks, every supported head size, MHA and GQA.
const Case kTrainingCases[] = {
    {"tiny", 1, 1, 1, 1, 1, 8, true, false},
    {"mha_causal", 2, 67, 67, 3, 3, 64, true, false},
    {"mha_full", 2, 67, 67, 3, 3, 64, false, false},
    {"gqa_causal", 1, 50, 50, 8, 2, 64, true, false},
    {"gqa_full", 1, 50, 50, 6, 3, 32, false, false},
    {"mqa_causal_multi_block", 1, 200, 200, 4, 1, 16, true, false},
    {"d8", 1, 33, 33, 2, 2, 8, true, false},
    {"d40", 1, 70, 70, 2, 1, 40, true, false},
    {"d80", 1, 65, 65, 2, 2, 80, true, false},
    {"d96", 2, 31, 31, 2, 1, 96, false, false},
    {"d128", 1, 129, 129, 2, 2, 128, true, false},
    {"d20_not_multiple_of_8", 1, 20, 20, 2, 2, 20, true, false},
    {"fused_qkv_mha", 2, 45, 45, 3, 3, 64, true, true},
    {"fused_qkv_gqa", 2, 70, 70, 4, 2, 32, true, true},
    {"fused_qkv_full", 1, 64, 64, 2, 1, 64, false, true},
};

TEST(Attention, ForwardBackwardMatchReference) {
  for (const Case& c : kTrainingCases) check_against_reference(c, true);
}

// q_len < kv_len: the queries are the last q_len positions. q_len * G <= 2 takes the decoding path
// (forward_rows; AVX-512 and AVX2), larger ones the blocked path.
const Case kCacheCases[] = {
    {"decode_mha", 2, 1, 77, 4, 4, 64, true, false},
    {"decode_gqa2", 2, 1, 130, 8, 4, 64, true, false},
    {"decode_gqa4", 2, 1, 130, 8, 2, 64, true, false},
    {"decode_gqa8", 1, 1, 100, 8, 1, 64, true, false},
    {"decode_d40", 1, 1, 33, 2, 2, 40, true, false},
    {"decode_two_tokens", 1, 2, 65, 4, 2, 64, true, false},
    {"prefill_chunk", 2, 17, 150, 4, 4, 64, true, false},
    {"prefill_chunk_gqa", 1, 40, 100, 6, 2, 32, true, false},
    {"cross_attention", 2, 9, 70, 2, 2, 32, false, false},
    {"cross_attention_q_longer", 1, 70, 9, 2, 1, 32, false, false},
};

TEST(Attention, ForwardWithCacheMatchesReference) {
  for (const Case& c : kCacheCases) check_against_reference(c, false);
}

TEST(Attention, BackwardWithShorterQueriesMatchesReference) {
  // Not needed by training (q_len == kv_len) but well defined: cross-attention and fine-tuning on a
  // suffix after a frozen prefix.
  check_against_reference({"suffix", 1, 40, 100, 4, 2, 32, true, false}, true);
  check_against_reference({"cross", 2, 9, 70, 2, 2, 32, false, false}, true);
}

TEST(Attention, ChunkedPrefillEqualsOnePass) {
  // The last 24 positions of a 100-token causal pass, recomputed as a q_len = 24 chunk against the
  // whole cache, give the same rows: what a KV-cache prefill in chunks relies on.
  const Case c{"whole", 1, 100, 100, 4, 2, 64, true, false};
  Problem whole(dims_of(c), false, 3);
  AttentionDims chunk_dims = dims_of(c);
  chunk_dims.q_len = 24;
  each_isa([&] {
    whole.forward();
    std::vector<float> chunk_out(24 * c.Hq * c.D), chunk_lse(c.Hq * 24);
    const HeadsView<const float> q_tail{whole.qkv.data() + 76 * c.Hq * c.D, 0, c.Hq * c.D, c.D};
    kernels::attention_forward(chunk_dims, q_tail, whole.k.cview(), whole.v.cview(),
                               {chunk_out.data(), 0, c.Hq * c.D, c.D}, chunk_lse.data());
    const std::vector<float> tail(whole.o.begin() + 76 * c.Hq * c.D, whole.o.end());
    EXPECT_TRUE(all_close(chunk_out, tail, 1e-5, 1e-6));
  });
}

TEST(Attention, LargeScoresDoNotOverflow) {
  // Scores of several hundred: exp would overflow without the running max.
  const Case c{"large", 1, 70, 70, 2, 2, 64, true, false};
  Problem p(dims_of(c), false, 9, 12.0f);
  const Reference ref = reference(p);
  each_isa([&] {
    p.forward();
    EXPECT_TRUE(close(p.dense(p.out, c.Tq, c.Hq), ref.out, 1e-4));
    p.backward();
    EXPECT_TRUE(close(p.dense(p.dv, c.Tk, c.Hk), ref.dv, 1e-4));
  });
}

TEST(Attention, BackwardMatchesFiniteDifferences) {
  // loss = sum(out * dout); its gradient wrt q, k, v is what attention_backward returns for dout.
  const Case c{"fd", 1, 5, 5, 4, 2, 8, true, false};
  each_isa([&] {
    Problem p(dims_of(c), false, 11);
    p.forward();
    p.backward();
    auto loss = [&] {
      p.forward();
      double s = 0;
      for (size_t i = 0; i < p.o.size(); ++i) s += double(p.o[i]) * p.g[i];
      return s;
    };
    for (auto [x, dx] : {std::pair{&p.qkv, &p.dqkv}, std::pair{&p.kv, &p.dkv}}) {
      const std::vector<float> analytic = *dx;
      for (size_t i = 0; i < x->size(); ++i) {
        const float x0 = (*x)[i], h = 1e-2f;
        (*x)[i] = x0 + h;
        const double up = loss(), xu = (*x)[i];
        (*x)[i] = x0 - h;
        const double down = loss(), xd = (*x)[i];
        (*x)[i] = x0;
        const double numeric = (up - down) / (xu - xd);
        EXPECT_NEAR(analytic[i], numeric, 2e-3 + 2e-3 * std::fabs(numeric)) << "element " << i;
      }
    }
  });
}

TEST(Attention, ReproducibleAndThreadCountIndependent) {
  // 8 (batch, kv head) groups: each is one task, so 1 and 2 threads sum in the same order.
  const Case c{"threads", 4, 150, 150, 4, 2, 64, true, false};
  each_isa([&] {
    Problem p(dims_of(c), false, 5);
    std::vector<float> out1, dq1, dk1;
    {
      Threads t(1);
      p.forward(), p.backward();
      out1 = p.o, dq1 = p.dqkv, dk1 = p.dkv;
    }
    Threads t(2);
    p.forward(), p.backward();
    EXPECT_EQ(0, std::memcmp(out1.data(), p.o.data(), out1.size() * 4));
    EXPECT_EQ(0, std::memcmp(dq1.data(), p.dqkv.data(), dq1.size() * 4));
    EXPECT_EQ(0, std::memcmp(dk1.data(), p.dkv.data(), dk1.size() * 4));
  });
}

TEST(Attention, SplitGroupsAreReproducibleAndMatchReference) {
  // One group on two threads: its key blocks are split into chunks whose dq shares are added in a
  // fixed order, so repeated runs are bitwise equal.
  const Case c{"split", 1, 300, 300, 2, 1, 32, true, false};
  Problem p(dims_of(c), false, 6);
  const Reference ref = reference(p);
  Threads t(2);
  each_isa([&] {
    p.forward(), p.backward();
    EXPECT_TRUE(close(p.dense(p.dq, c.Tq, c.Hq), ref.dq, 5e-5));
    EXPECT_TRUE(close(p.dense(p.dk, c.Tk, c.Hk), ref.dk, 5e-5));
    const std::vector<float> dq = p.dqkv, dk = p.dkv;
    p.backward();
    EXPECT_EQ(0, std::memcmp(dq.data(), p.dqkv.data(), dq.size() * 4));
    EXPECT_EQ(0, std::memcmp(dk.data(), p.dkv.data(), dk.size() * 4));
  });
}

TEST(Attention, LseMayBeNullForInference) {
  const Case c{"nolse", 1, 30, 30, 2, 2, 64, true, false};
  Problem p(dims_of(c), false, 8);
  const Reference ref = reference(p);
  each_isa([&] {
    kernels::attention_forward(p.dims, p.q.cview(), p.k.cview(), p.v.cview(), p.out.view(), nullptr);
    EXPECT_TRUE(close(p.dense(p.out, c.Tq, c.Hq), ref.out));
  });
}

TEST(Attention, RejectsBadShapes) {
  float x[64] = {};
  const HeadsView<const float> in{x, 0, 8, 8};
  const HeadsView<float> out{x, 0, 8, 8};
  AttentionDims d;
  d.q_len = 2, d.kv_len = 2, d.n_heads = 3, d.n_kv_heads = 2, d.head_dim = 8;
  EXPECT_THROW(kernels::attention_forward(d, in, in, in, out, nullptr), ShapeError);  // 3 heads over 2
  d.n_heads = 2, d.q_len = 3;
  EXPECT_THROW(kernels::attention_forward(d, in, in, in, out, nullptr), ShapeError);  // causal, q_len > kv_len
  d.q_len = 2;
  EXPECT_THROW(kernels::attention_backward(d, in, in, in, in, in, nullptr, out, out, out), ValueError);  // no lse
  d.kv_len = 0, d.q_len = 0;
  EXPECT_NO_THROW(kernels::attention_forward(d, in, in, in, out, nullptr));  // empty is fine
}

}  // namespace
}  // namespace cornerstone::testing

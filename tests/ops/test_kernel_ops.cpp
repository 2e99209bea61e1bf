// Every differentiable op built on the CPU kernels: forward and backward against PyTorch, backward
// against finite differences, and the typed errors for bad shapes and dtypes.
#include <gtest/gtest.h>

#include <cmath>

#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/ops/activation.h"
#include "cornerstone/ops/attention.h"
#include "cornerstone/ops/dropout.h"
#include "cornerstone/ops/elementwise.h"
#include "cornerstone/ops/embedding.h"
#include "cornerstone/ops/linear.h"
#include "cornerstone/ops/loss.h"
#include "cornerstone/ops/norm.h"
#include "cornerstone/ops/precision.h"
#include "op_check.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;

namespace {

Tensor ids(const Shape& s, int32_t vocab, uint64_t seed, bool with_ignored = false) {
  Rng rng(seed);
  std::vector<int32_t> v(static_cast<size_t>(s.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int32_t>(rng.below(static_cast<uint64_t>(vocab)));
  if (with_ignored) v[1] = -1, v[v.size() - 1] = -100;
  return Tensor::from_data(s, v);
}

}  // namespace

TEST(OpsNorm, LayerNorm) {
  OpCase c;
  c.oracle_op = "layer_norm";
  c.attrs = {{"eps", 1e-5}};
  c.inputs = {random_tensor({3, 5, 37}, 1, -2, 3), random_tensor({37}, 2, 0.5, 1.5), random_tensor({37}, 3)};
  c.grad = {true, true, true};
  c.run = [](const std::vector<Tensor>& in) { return ops::layer_norm(in[0], in[1], in[2], 1e-5f); };
  check_op(c);
  EXPECT_THROW(ops::layer_norm(random_tensor({3, 4}, 1), random_tensor({5}, 2), Tensor()), ShapeError);
}

TEST(OpsNorm, RmsNorm) {
  OpCase c;
  c.oracle_op = "rms_norm";
  c.attrs = {{"eps", 1e-6}};
  c.inputs = {random_tensor({4, 2, 48}, 4), random_tensor({48}, 5, 0.5, 1.5)};
  c.grad = {true, true};
  c.run = [](const std::vector<Tensor>& in) { return ops::rms_norm(in[0], in[1], 1e-6f); };
  check_op(c);
}

TEST(OpsActivation, GeluTanhErfSiluTanhSwigluSoftmax) {
  const Tensor x = random_tensor({5, 67}, 6, -4, 4);
  struct K {
    const char* op;
    std::function<Tensor(const std::vector<Tensor>&)> run;
  };
  const std::vector<K> cases = {
      {"gelu_tanh", [](const std::vector<Tensor>& in) { return ops::gelu(in[0], ops::GeluKind::Tanh); }},
      {"gelu_erf", [](const std::vector<Tensor>& in) { return ops::gelu(in[0], ops::GeluKind::Erf); }},
      {"silu", [](const std::vector<Tensor>& in) { return ops::silu(in[0]); }},
      {"tanh", [](const std::vector<Tensor>& in) { return ops::tanh(in[0]); }},
      {"softmax", [](const std::vector<Tensor>& in) { return ops::softmax(in[0]); }},
  };
  for (const auto& k : cases) {
    OpCase c;
    c.oracle_op = k.op;
    c.inputs = {x};
    c.grad = {true};
    c.run = k.run;
    check_op(c);
  }
  OpCase c;
  c.oracle_op = "swiglu";
  c.inputs = {random_tensor({3, 4, 2 * 40}, 7, -3, 3)};
  c.grad = {true};
  c.run = [](const std::vector<Tensor>& in) { return ops::swiglu(in[0]); };
  check_op(c);
  EXPECT_THROW(ops::swiglu(random_tensor({3, 5}, 1)), ShapeError);
}

TEST(OpsLoss, CrossEntropyWithIgnoredRows) {
  OpCase c;
  c.oracle_op = "cross_entropy";
  c.inputs = {random_tensor({9, 53}, 8, -3, 3), ids({9}, 53, 9, true)};
  c.grad = {true, false};
  c.run = [](const std::vector<Tensor>& in) { return ops::cross_entropy(in[0], in[1]); };
  check_op(c);
  EXPECT_THROW(ops::cross_entropy(random_tensor({2, 5}, 1), Tensor::from_data({2}, std::vector<int32_t>{1, 5})), ValueError);
}

TEST(OpsLoss, TokenCrossEntropyIsEachRowsLossWithItsOwnGradient) {
  OpCase c;
  c.oracle_op = "token_cross_entropy";
  c.inputs = {random_tensor({9, 53}, 18, -3, 3), ids({9}, 53, 19, true)};
  c.grad = {true, false};
  c.run = [](const std::vector<Tensor>& in) { return ops::token_cross_entropy(in[0], in[1]); };
  check_op(c);
  const Tensor one = ops::token_cross_entropy(Tensor::from_data({2, 3}, std::vector<float>{0, 0, 0, 1, 2, 3}),
                                              Tensor::from_data({2}, std::vector<int32_t>{-1, 2}));
  EXPECT_EQ(one.shape(), Shape({2}));
  EXPECT_EQ(one.to_vector()[0], 0.0f) << "an ignored row";
  EXPECT_NEAR(one.to_vector()[1], std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3.0, 1e-6);
  EXPECT_THROW(ops::token_cross_entropy(random_tensor({2, 5}, 1), Tensor::from_data({2}, std::vector<int32_t>{1, 5})), ValueError);
}

TEST(OpsLoss, FusedLmHeadMatchesLinearPlusCrossEntropy) {
  for (bool bias : {false, true}) {
    OpCase c;
    c.oracle_op = "lm_head_cross_entropy";
    c.attrs = {{"bias", bias}};
    // More rows than one chunk and a vocabulary that is not a multiple of 16.
    c.inputs = {random_tensor({2, 300, 24}, 10), random_tensor({1003, 24}, 11, -0.5, 0.5), bias ? random_tensor({1003}, 12) : Tensor(),
                ids({2, 300}, 1003, 13, true)};
    c.grad = {true, true, bias, false};
    c.run = [](const std::vector<Tensor>& in) { return ops::lm_head_cross_entropy(in[0], in[1], in[2], in[3]); };
    check_against_oracle(c);
  }
  OpCase small;
  small.oracle_op = "lm_head_cross_entropy";
  small.attrs = {{"bias", true}};
  small.inputs = {random_tensor({6, 8}, 14), random_tensor({11, 8}, 15), random_tensor({11}, 16), ids({6}, 11, 17)};
  small.grad = {true, true, true, false};
  small.run = [](const std::vector<Tensor>& in) { return ops::lm_head_cross_entropy(in[0], in[1], in[2], in[3]); };
  check_op(small);
}

TEST(OpsEmbedding, GatherAndScatterAdd) {
  OpCase c;
  c.oracle_op = "embedding";
  c.inputs = {random_tensor({17, 12}, 18), ids({3, 9}, 17, 19)};
  c.grad = {true, false};
  c.run = [](const std::vector<Tensor>& in) { return ops::embedding(in[0], in[1]); };
  check_op(c);
  try {
    ops::embedding(random_tensor({4, 2}, 1), Tensor::from_data({2}, std::vector<int32_t>{0, 4}));
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_STREQ(e.what(), "embedding: id 4 at position 1 is outside the table of 4 rows");
  }
}

TEST(OpsAttention, MhaGqaRopeCausalAndNot) {
  struct Cfg {
    int64_t hq, hkv, d, t;
    bool causal;
    float theta;
  };
  for (const Cfg& k : {Cfg{4, 4, 16, 37, true, 0.f}, Cfg{6, 2, 32, 70, true, 10000.f}, Cfg{2, 1, 8, 9, false, 0.f},
                       Cfg{4, 4, 64, 130, true, 500000.f}}) {
    SCOPED_TRACE("hq " + std::to_string(k.hq) + " hkv " + std::to_string(k.hkv) + " d " + std::to_string(k.d) +
                 " t " + std::to_string(k.t));
    auto rope = std::make_shared<ops::RopeCache>();
    if (k.theta > 0) *rope = ops::RopeCache(k.theta, k.d, 256);
    ops::AttentionConfig ac;
    ac.n_heads = k.hq, ac.n_kv_heads = k.hkv, ac.head_dim = k.d, ac.causal = k.causal;
    ac.rope = k.theta > 0 ? rope.get() : nullptr;
    OpCase c;
    c.oracle_op = "attention";
    c.attrs = {{"n_heads", k.hq}, {"n_kv_heads", k.hkv}, {"head_dim", k.d}, {"causal", k.causal}, {"rope_theta", k.theta}};
    c.inputs = {random_tensor({2, k.t, (k.hq + 2 * k.hkv) * k.d}, 20)};
    c.grad = {true};
    c.run = [ac, rope](const std::vector<Tensor>& in) { return ops::attention(in[0], ac); };
    c.grad_rtol = 2e-4;
    check_op(c, k.t < 64);
  }
  ops::AttentionConfig bad;
  bad.n_heads = 3, bad.n_kv_heads = 2, bad.head_dim = 4;
  EXPECT_THROW(ops::attention(random_tensor({1, 2, 28}, 1), bad), ValueError);
  bad.n_heads = 2, bad.n_kv_heads = 1;
  EXPECT_THROW(ops::attention(random_tensor({1, 2, 17}, 1), bad), ShapeError);
}

TEST(OpsAttention, KeyLengthsMaskRightPaddingOfBidirectionalAttention) {
  const std::vector<int32_t> lengths = {5, 70, 1};  // two padded sequences and a full one (T = 70)
  ops::AttentionConfig ac;
  ac.n_heads = 4, ac.n_kv_heads = 2, ac.head_dim = 16, ac.causal = false;
  ac.key_lengths = Tensor::from_data({3}, lengths);
  OpCase c;
  c.oracle_op = "attention";
  c.attrs = {{"n_heads", 4}, {"n_kv_heads", 2}, {"head_dim", 16}, {"causal", false}, {"key_lengths", lengths}};
  c.inputs = {random_tensor({3, 70, 8 * 16}, 22)};
  c.grad = {true};
  c.run = [ac](const std::vector<Tensor>& in) { return ops::attention(in[0], ac); };
  c.grad_rtol = 2e-4;
  check_against_oracle(c);

  // The real positions of a padded sequence are those of the unpadded sequence alone, whatever the padding holds.
  const Tensor qkv = random_tensor({3, 70, 128}, 23);
  const Tensor padded = ops::attention(qkv, ac);
  ops::AttentionConfig plain = ac;
  plain.key_lengths = Tensor();
  const Tensor alone = ops::attention(qkv.slice(0, 0, 1).slice(1, 0, 5).contiguous(), plain);
  EXPECT_EQ(padded.slice(0, 0, 1).slice(1, 0, 5).contiguous().to_vector(), alone.to_vector());

  ac.key_lengths = Tensor::from_data({3}, std::vector<int32_t>{5, 71, 1});
  EXPECT_THROW(ops::attention(qkv, ac), ValueError);
  ac.key_lengths = Tensor::from_data({3}, lengths);
  ac.causal = true;
  EXPECT_THROW(ops::attention(qkv, ac), ValueError);
}

TEST(OpsDropout, KeepsExpectationAndBackpropagatesThroughTheMask) {
  Rng rng(5);
  const Tensor x = Tensor::full({100000}, 1.0f);
  const Tensor y = ops::dropout(x, 0.25f, rng);
  double sum = 0;
  int64_t zeros = 0;
  for (float v : y.to_vector()) sum += v, zeros += v == 0.0f;
  EXPECT_NEAR(sum / 100000, 1.0, 0.01);
  EXPECT_NEAR(static_cast<double>(zeros) / 100000, 0.25, 0.01);
  // Same generator state -> same mask: finite differences see the mask the gradient used.
  OpCase c;
  c.inputs = {random_tensor({7, 9}, 21)};
  c.grad = {true};
  c.run = [](const std::vector<Tensor>& in) {
    Rng r(99);
    return ops::dropout(in[0], 0.3f, r);
  };
  check_finite_differences(c);
  EXPECT_THROW(ops::dropout(x, 1.0f, rng), ValueError);
}

TEST(OpsLoss, FusedLmHeadInBf16IsCloseToFp32) {
  // bf16 operands, fp32 everything else: the loss moves by ~1e-3 relative, the gradients by ~1e-2.
  const Tensor h = random_tensor({2, 150, 32}, 40), w = random_tensor({517, 32}, 41, -0.5, 0.5), t = ids({2, 150}, 517, 42, true);
  Tensor hf = h.clone().requires_grad_(), wf = w.clone().requires_grad_();
  Tensor lf = ops::lm_head_cross_entropy(hf, wf, Tensor(), t);
  lf.backward();
  Tensor hb = h.clone().requires_grad_(), wb = w.clone().requires_grad_();
  Tensor lb;
  {
    ops::PrecisionGuard bf16(ops::Precision::BF16);
    lb = ops::lm_head_cross_entropy(hb, wb, Tensor(), t);
    lb.backward();
  }
  EXPECT_NE(lf.item(), lb.item()) << "bf16 really was used";
  EXPECT_NEAR(lb.item(), lf.item(), 2e-3 * lf.item());
  EXPECT_TRUE(all_close(hb.grad(), hf.grad(), 3e-2, 3e-4));
  EXPECT_TRUE(all_close(wb.grad(), wf.grad(), 3e-2, 3e-4));
}

TEST(OpsMisc, AddPositionsAndAddColumnsAgainstFiniteDifferences) {
  OpCase pos;
  pos.inputs = {random_tensor({2, 5, 6}, 50), random_tensor({9, 6}, 51)};
  pos.grad = {true, true};
  pos.run = [](const std::vector<Tensor>& in) { return ops::add_positions(in[0], in[1], 3); };
  check_finite_differences(pos);
  OpCase cols;
  cols.inputs = {random_tensor({3, 4, 10}, 52), random_tensor({3, 4, 3}, 53)};
  cols.grad = {true, true};
  cols.run = [](const std::vector<Tensor>& in) { return ops::add_columns(in[0], in[1], 5); };
  check_finite_differences(cols);
}

TEST(OpsMisc, FrozenBf16LinearPassesGradientsToTheInputOnly) {
  const Tensor w = random_tensor({12, 16}, 54), b = random_tensor({12}, 55);
  OpCase c;
  c.oracle_op = "linear_bf16";
  c.inputs = {random_tensor({5, 16}, 56), w, b};
  c.grad = {true, false, false};
  const Tensor wb = w.to(DType::BF16);
  c.run = [wb](const std::vector<Tensor>& in) { return ops::linear_frozen(in[0], wb, in[2]); };
  c.grad_rtol = 2e-2, c.grad_atol = 2e-2;  // the incoming gradient is rounded to bf16 as well
  check_against_oracle(c);
}

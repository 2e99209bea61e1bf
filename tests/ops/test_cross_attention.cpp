// ops::cross_attention: forward and both input gradients against PyTorch's composite (matmul,
// padding mask, softmax, matmul) and against finite differences; T != S, GQA, padded encoder
// batches; typed errors for bad shapes.
#include <gtest/gtest.h>

#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/ops/attention.h"
#include "op_check.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;

namespace {

Tensor rand(const Shape& s, uint64_t seed) {
  Rng rng(seed);
  return Tensor::uniform(s, rng, -1.0f, 1.0f);
}

OpCase cross_case(int64_t B, int64_t T, int64_t S, int64_t hq, int64_t hkv, int64_t d, const std::vector<int32_t>& lengths) {
  ops::CrossAttentionConfig ac;
  ac.n_heads = hq, ac.n_kv_heads = hkv, ac.head_dim = d;
  if (!lengths.empty()) ac.key_lengths = Tensor::from_data({B}, lengths);
  OpCase c;
  c.oracle_op = "cross_attention";
  c.attrs = {{"n_heads", hq}, {"n_kv_heads", hkv}, {"head_dim", d}};
  if (!lengths.empty()) c.attrs["key_lengths"] = lengths;
  c.inputs = {rand({B, T, hq * d}, 30 + T), rand({B, S, 2 * hkv * d}, 40 + S)};
  c.grad = {true, true};
  c.run = [ac](const std::vector<Tensor>& in) { return ops::cross_attention(in[0], in[1], ac); };
  c.grad_rtol = 2e-4;
  return c;
}

}  // namespace

TEST(OpsCrossAttention, MatchesPyTorchAndFiniteDifferences) {
  struct Cfg {
    int64_t B, T, S, hq, hkv, d;
  };
  // Fewer queries than keys, more queries than keys (several key blocks), GQA, one of each.
  for (const Cfg& k : {Cfg{2, 5, 13, 4, 4, 16}, Cfg{1, 37, 9, 6, 2, 8}, Cfg{2, 3, 70, 2, 1, 32}, Cfg{1, 1, 1, 1, 1, 8}}) {
    SCOPED_TRACE("T " + std::to_string(k.T) + " S " + std::to_string(k.S) + " hq " + std::to_string(k.hq) + " hkv " +
                 std::to_string(k.hkv));
    const OpCase c = cross_case(k.B, k.T, k.S, k.hq, k.hkv, k.d, {});
    check_against_oracle(c);
    check_finite_differences(c);
  }
}

TEST(OpsCrossAttention, EncoderLengthsMaskPaddingKeys) {
  const std::vector<int32_t> lengths = {4, 11, 1};  // two padded encoder sequences and a full one (S = 11)
  const OpCase c = cross_case(3, 6, 11, 4, 2, 16, lengths);
  check_against_oracle(c);
  check_finite_differences(c);

  // A padded sequence's outputs are those of its real encoder positions alone, whatever the padding holds.
  ops::CrossAttentionConfig ac;
  ac.n_heads = 4, ac.n_kv_heads = 2, ac.head_dim = 16, ac.key_lengths = Tensor::from_data({3}, lengths);
  const Tensor q = rand({3, 6, 64}, 5), kv = rand({3, 11, 64}, 6);
  const Tensor padded = ops::cross_attention(q, kv, ac);
  ops::CrossAttentionConfig plain = ac;
  plain.key_lengths = Tensor();
  const Tensor alone = ops::cross_attention(q.slice(0, 0, 1).contiguous(), kv.slice(0, 0, 1).slice(1, 0, 4).contiguous(), plain);
  EXPECT_EQ(padded.slice(0, 0, 1).contiguous().to_vector(), alone.to_vector());
  // The padding keys get no gradient.
  Tensor kvg = kv.clone().requires_grad_();
  ops::cross_attention(q, kvg, ac).backward(rand({3, 6, 64}, 7));
  const Tensor pad_grad = kvg.grad().slice(0, 0, 1).slice(1, 4, 11).contiguous();
  for (float v : pad_grad.to_vector()) ASSERT_EQ(v, 0.0f);

  ac.key_lengths = Tensor::from_data({3}, std::vector<int32_t>{4, 12, 1});
  EXPECT_THROW(ops::cross_attention(q, kv, ac), ValueError);
  ac.key_lengths = Tensor::from_data({2}, std::vector<int32_t>{4, 11});
  EXPECT_THROW(ops::cross_attention(q, kv, ac), ShapeError);
}

TEST(OpsCrossAttention, BadShapesAreTypedErrors) {
  ops::CrossAttentionConfig ac;
  ac.n_heads = 2, ac.n_kv_heads = 1, ac.head_dim = 8;
  EXPECT_THROW(ops::cross_attention(rand({1, 3, 15}, 1), rand({1, 4, 16}, 2), ac), ShapeError);  // q width
  EXPECT_THROW(ops::cross_attention(rand({1, 3, 16}, 1), rand({1, 4, 32}, 2), ac), ShapeError);  // kv width
  EXPECT_THROW(ops::cross_attention(rand({1, 3, 16}, 1), rand({2, 4, 16}, 2), ac), ShapeError);  // batch
  EXPECT_THROW(ops::cross_attention(rand({3, 16}, 1), rand({1, 4, 16}, 2), ac), ShapeError);     // rank
  ac.n_kv_heads = 3;
  EXPECT_THROW(ops::cross_attention(rand({1, 3, 16}, 1), rand({1, 4, 48}, 2), ac), ValueError);
}

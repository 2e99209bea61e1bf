// The image ops (ops/conv.h, group / batch norm, relu, the class token): forward and backward
// against PyTorch, backward against finite differences, and the errors for bad shapes.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/ops/activation.h"
#include "cornerstone/ops/conv.h"
#include "cornerstone/ops/embedding.h"
#include "cornerstone/ops/norm.h"
#include "op_check.h"
#include "oracle.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;

namespace {

// Distinct values 0.05 apart in random order, centred on 0 and never 0 itself: max pooling and relu
// have no ties or kinks within the finite-difference step.
Tensor distinct(const Shape& s, uint64_t seed) {
  std::vector<float> v(static_cast<size_t>(s.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.05f * (static_cast<float>(i) - static_cast<float>(v.size()) / 2) + 0.025f;
  Rng rng(seed);
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
  return Tensor::from_data(s, v);
}

}  // namespace

TEST(OpsConv, Conv2dStridesPaddingsAndPointwise) {
  struct Shape4 {
    int64_t B, C, H, W, O, k, stride, pad;
  };
  for (const Shape4& s : {Shape4{2, 3, 7, 6, 4, 3, 1, 1}, Shape4{2, 2, 9, 9, 3, 3, 2, 1}, Shape4{1, 3, 8, 8, 5, 7, 2, 3},
                          Shape4{3, 4, 5, 5, 6, 1, 1, 0}, Shape4{2, 4, 6, 6, 3, 1, 2, 0},
                          // >= 16 input channels: oneDNN's direct convolution (kernels/conv_direct.cpp)
                          Shape4{2, 16, 5, 5, 4, 3, 1, 1}, Shape4{1, 18, 6, 6, 3, 3, 2, 1},
                          // 1x1 and 2x2 maps: kernel taps that read only padding are skipped
                          Shape4{2, 16, 1, 1, 4, 3, 1, 1}, Shape4{2, 4, 2, 2, 3, 3, 2, 1}}) {
    SCOPED_TRACE(::testing::Message() << "k " << s.k << " stride " << s.stride << " pad " << s.pad);
    OpCase c;
    c.oracle_op = "conv2d";
    c.attrs = {{"stride", s.stride}, {"padding", s.pad}};
    c.inputs = {random_tensor({s.B, s.C, s.H, s.W}, 1), random_tensor({s.O, s.C, s.k, s.k}, 2, -0.5, 0.5), random_tensor({s.O}, 3)};
    c.grad = {true, true, true};
    c.run = [s](const std::vector<Tensor>& in) { return ops::conv2d(in[0], in[1], in[2], s.stride, s.pad); };
    check_op(c);
  }
  // Without a bias.
  OpCase c;
  c.oracle_op = "conv2d";
  c.attrs = {{"stride", 1}, {"padding", 0}};
  c.inputs = {random_tensor({2, 2, 5, 4}, 4), random_tensor({3, 2, 2, 3}, 5)};
  c.grad = {true, true};
  c.run = [](const std::vector<Tensor>& in) { return ops::conv2d(in[0], in[1], Tensor(), 1, 0); };
  check_op(c);
}

TEST(OpsConv, Conv2dBadShapesNameTheProblem) {
  EXPECT_THROW(ops::conv2d(random_tensor({2, 3, 5}, 1), random_tensor({4, 3, 3, 3}, 2), Tensor()), ShapeError);
  EXPECT_THROW(ops::conv2d(random_tensor({2, 3, 5, 5}, 1), random_tensor({4, 2, 3, 3}, 2), Tensor()), ShapeError);
  EXPECT_THROW(ops::conv2d(random_tensor({2, 3, 2, 2}, 1), random_tensor({4, 3, 3, 3}, 2), Tensor()), ShapeError);
  EXPECT_THROW(ops::conv2d(random_tensor({2, 3, 5, 5}, 1), random_tensor({4, 3, 3, 3}, 2), random_tensor({3}, 3)), ShapeError);
  EXPECT_THROW(ops::conv2d(random_tensor({2, 3, 5, 5}, 1), random_tensor({4, 3, 3, 3}, 2), Tensor(), 0), ValueError);
  try {
    ops::conv2d(random_tensor({2, 3, 5, 5}, 1), random_tensor({4, 2, 3, 3}, 2), Tensor());
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("input channels"), std::string::npos) << e.what();
  }
}

TEST(OpsConv, Pad2d) {
  OpCase c;
  c.oracle_op = "pad2d";
  c.attrs = {{"pad", {1, 2, 0, 3}}};
  c.inputs = {random_tensor({2, 3, 4, 5}, 6)};
  c.grad = {true};
  c.run = [](const std::vector<Tensor>& in) { return ops::pad2d(in[0], 1, 2, 0, 3); };
  check_op(c);
}

TEST(OpsConv, MaxAndAveragePooling) {
  for (const auto& [k, stride, pad] : {std::tuple{3, 2, 1}, std::tuple{2, 2, 0}, std::tuple{3, 1, 0}}) {
    SCOPED_TRACE(::testing::Message() << "k " << k << " stride " << stride << " pad " << pad);
    OpCase m;
    m.oracle_op = "max_pool2d";
    m.attrs = {{"kernel", k}, {"stride", stride}, {"padding", pad}};
    m.inputs = {distinct({2, 3, 7, 6}, 7)};
    m.grad = {true};
    m.run = [k, stride, pad](const std::vector<Tensor>& in) { return ops::max_pool2d(in[0], k, stride, pad); };
    check_op(m);
    OpCase a = m;
    a.oracle_op = "avg_pool2d";
    a.inputs = {random_tensor({2, 3, 7, 6}, 8)};
    a.run = [k, stride, pad](const std::vector<Tensor>& in) { return ops::avg_pool2d(in[0], k, stride, pad); };
    check_op(a);
  }
  OpCase g;
  g.oracle_op = "global_avg_pool";
  g.inputs = {random_tensor({3, 4, 5, 3}, 9)};
  g.grad = {true};
  g.run = [](const std::vector<Tensor>& in) { return ops::global_avg_pool(in[0]); };
  check_op(g);
  EXPECT_THROW(ops::max_pool2d(random_tensor({2, 3, 4, 4}, 1), 3, 1, 2), ValueError);
  EXPECT_THROW(ops::max_pool2d(random_tensor({2, 3, 2, 2}, 1), 3, 1, 0), ShapeError);
}

TEST(OpsConv, PatchEmbedding) {
  OpCase c;
  c.oracle_op = "patch_embedding";
  c.attrs = {{"patch", 4}};
  c.inputs = {random_tensor({2, 3, 8, 12}, 10), random_tensor({5, 3, 4, 4}, 11, -0.3, 0.3), random_tensor({5}, 12)};
  c.grad = {true, true, true};
  c.run = [](const std::vector<Tensor>& in) { return ops::patch_embedding(in[0], in[1], in[2], 4); };
  check_op(c);
  EXPECT_THROW(ops::patch_embedding(random_tensor({1, 3, 10, 8}, 1), random_tensor({5, 3, 4, 4}, 2), Tensor(), 4), ShapeError);
}

TEST(OpsConv, WeightStandardization) {
  OpCase c;
  c.oracle_op = "weight_standardize";
  c.attrs = {{"eps", 1e-6}};
  c.inputs = {random_tensor({6, 3, 3, 3}, 13)};
  c.grad = {true};
  c.run = [](const std::vector<Tensor>& in) { return ops::weight_standardize(in[0], 1e-6f); };
  check_op(c);
}

TEST(OpsNorm, GroupNorm) {
  OpCase c;
  c.oracle_op = "group_norm";
  c.attrs = {{"groups", 3}, {"eps", 1e-5}};
  c.inputs = {random_tensor({2, 6, 4, 5}, 14, -2, 3), random_tensor({6}, 15, 0.5, 1.5), random_tensor({6}, 16)};
  c.grad = {true, true, true};
  c.run = [](const std::vector<Tensor>& in) { return ops::group_norm(in[0], 3, in[1], in[2], 1e-5f); };
  check_op(c);
  // One position per channel (a ResNet's last stage), positions spanning a vector and a tail, no affine.
  for (const auto& [shape, groups] : {std::pair{Shape{3, 8, 1, 1}, 4}, std::pair{Shape{2, 4, 5, 4}, 2}}) {
    OpCase d;
    d.oracle_op = "group_norm";
    d.attrs = {{"groups", groups}, {"eps", 1e-5}};
    d.inputs = {random_tensor(shape, 17, -2, 3)};
    d.grad = {true};
    d.run = [groups = groups](const std::vector<Tensor>& in) { return ops::group_norm(in[0], groups, Tensor(), Tensor(), 1e-5f); };
    check_op(d);
  }
  EXPECT_THROW(ops::group_norm(random_tensor({2, 6, 4, 5}, 1), 4, Tensor(), Tensor()), ShapeError);
  EXPECT_THROW(ops::group_norm(random_tensor({2, 6, 4, 5}, 1), 3, random_tensor({5}, 2), Tensor()), ShapeError);
}

TEST(OpsNorm, GroupNormReluIsOnePassOfBoth) {
  // Against PyTorch's relu(group_norm(...)) forward and backward (no finite differences: relu has a
  // kink wherever a value lands near 0).
  OpCase c;
  c.oracle_op = "group_norm_relu";
  c.attrs = {{"groups", 2}, {"eps", 1e-5}};
  c.inputs = {random_tensor({3, 8, 5, 5}, 21, -2, 3), random_tensor({8}, 22, 0.5, 1.5), random_tensor({8}, 23)};
  c.grad = {true, true, true};
  c.run = [](const std::vector<Tensor>& in) { return ops::group_norm_relu(in[0], 2, in[1], in[2], 1e-5f); };
  check_op(c, false);
  // The same values as the two ops one after the other.
  const Tensor x = random_tensor({2, 6, 3, 3}, 24), w = random_tensor({6}, 25), b = random_tensor({6}, 26);
  EXPECT_TRUE(all_close(ops::group_norm_relu(x, 3, w, b), ops::relu(ops::group_norm(x, 3, w, b))));
}

TEST(OpsNorm, BatchNormTrainingAndEvaluation) {
  OpCase c;
  c.oracle_op = "batch_norm_train";
  c.attrs = {{"momentum", 0.1}, {"eps", 1e-5}};
  c.inputs = {random_tensor({4, 3, 3, 2}, 17, -2, 3), random_tensor({3}, 18, 0.5, 1.5), random_tensor({3}, 19)};
  c.grad = {true, true, true};
  c.run = [](const std::vector<Tensor>& in) { return ops::batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), true, 0.1f, 1e-5f); };
  check_op(c);
  // The running statistics, updated from zeros and ones as PyTorch does.
  Tensor rm = Tensor::zeros({3}), rv = Tensor::full({3}, 1.0f);
  ops::batch_norm(c.inputs[0], c.inputs[1], c.inputs[2], rm, rv, true, 0.1f, 1e-5f);
  const OracleResult r = Oracle::instance().run("batch_norm_train", c.inputs, c.attrs);
  EXPECT_TRUE(all_close(rm, r.outputs[1], 1e-5, 1e-6));
  EXPECT_TRUE(all_close(rv, r.outputs[2], 1e-5, 1e-6));

  OpCase e;
  e.oracle_op = "batch_norm_eval";
  e.attrs = {{"eps", 1e-5}};
  e.inputs = {random_tensor({2, 3, 4}, 20), random_tensor({3}, 21, 0.5, 1.5), random_tensor({3}, 22), random_tensor({3}, 23), random_tensor({3}, 24, 0.5, 2)};
  e.grad = {true, true, true, false, false};
  e.run = [](const std::vector<Tensor>& in) { return ops::batch_norm(in[0], in[1], in[2], in[3].clone(), in[4].clone(), false, 0.1f, 1e-5f); };
  check_op(e);
}

TEST(OpsNorm, ChannelAffine) {
  OpCase c;
  c.oracle_op = "channel_affine";
  c.inputs = {random_tensor({2, 4, 3, 3}, 25), random_tensor({4}, 26), random_tensor({4}, 27)};
  c.grad = {true, true, true};
  c.run = [](const std::vector<Tensor>& in) { return ops::channel_affine(in[0], in[1], in[2]); };
  check_op(c);
}

TEST(OpsActivation, Relu) {
  OpCase c;
  c.oracle_op = "relu";
  c.inputs = {distinct({3, 41}, 28)};
  c.grad = {true};
  c.run = [](const std::vector<Tensor>& in) { return ops::relu(in[0]); };
  check_op(c);
}

TEST(OpsEmbedding, PrependToken) {
  OpCase c;
  c.oracle_op = "prepend_token";
  c.inputs = {random_tensor({3, 4, 5}, 29), random_tensor({5}, 30)};
  c.grad = {true, true};
  c.run = [](const std::vector<Tensor>& in) { return ops::prepend_token(in[0], in[1]); };
  check_op(c);
  EXPECT_THROW(ops::prepend_token(random_tensor({3, 4, 5}, 1), random_tensor({4}, 2)), ShapeError);
}

#include <gtest/gtest.h>

#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/core/error.h"
#include "cornerstone/ops/elementwise.h"
#include "cornerstone/ops/linear.h"
#include "test_util.h"

using namespace cornerstone;

TEST(Autograd, ChainRuleThroughSharedInput) {
  // y = sum((x * x) + x)  ->  dy/dx = 2x + 1
  Tensor x = Tensor::from_data({3}, std::vector<float>{1, -2, 3}).requires_grad_();
  Tensor y = ops::sum(ops::add(ops::mul(x, x), x));
  y.backward();
  EXPECT_EQ(x.grad().to_vector(), std::vector<float>({3, -3, 7}));
}

TEST(Autograd, GradientsAccumulateAcrossBackwardCallsUntilZeroed) {
  Tensor x = Tensor::from_data({2}, std::vector<float>{1, 2}).requires_grad_();
  for (int micro = 0; micro < 3; ++micro) ops::sum(ops::scale(x, 2.0f)).backward();
  EXPECT_EQ(x.grad().to_vector(), std::vector<float>({6, 6}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
  ops::sum(x).backward();
  EXPECT_EQ(x.grad().to_vector(), std::vector<float>({1, 1}));
}

TEST(Autograd, NoGradRecordsNothing) {
  Tensor x = Tensor::from_data({2}, std::vector<float>{1, 2}).requires_grad_();
  Tensor y;
  {
    autograd::NoGradGuard guard;
    y = ops::sum(ops::mul(x, x));
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_THROW(y.backward(), ValueError);
  EXPECT_TRUE(autograd::grad_enabled());
}

TEST(Autograd, SecondBackwardThroughTheSameGraphIsAnError) {
  Tensor x = Tensor::from_data({2}, std::vector<float>{1, 2}).requires_grad_();
  Tensor y = ops::sum(ops::mul(x, x));
  y.backward();
  EXPECT_THROW(y.backward(), ValueError);
}

TEST(Autograd, NonScalarRootNeedsASeed) {
  Tensor x = Tensor::from_data({2}, std::vector<float>{1, 2}).requires_grad_();
  Tensor y = ops::scale(x, 3.0f);
  EXPECT_THROW(y.backward(), ShapeError);
  y.backward(Tensor::from_data({2}, std::vector<float>{1, 10}));
  EXPECT_EQ(x.grad().to_vector(), std::vector<float>({3, 30}));
}

TEST(Autograd, ViewsAreDifferentiable) {
  std::vector<float> v(12);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  Tensor x = Tensor::from_data({3, 4}, v).requires_grad_();
  // sum of x^T[1:3] * 2 through transpose, slice, view and select
  Tensor t = x.transpose(0, 1).slice(0, 1, 3);  // (2, 3): columns 1 and 2 of x
  Tensor s = ops::sum(ops::scale(t.contiguous().view({6}), 2.0f));
  Tensor r = ops::sum(x.select(0, 0));  // row 0
  ops::add(s, r).backward();
  EXPECT_EQ(x.grad().to_vector(), std::vector<float>({1, 3, 3, 1, 0, 2, 2, 0, 0, 2, 2, 0}));
}

TEST(Autograd, OnlyLeavesCanBeMarked) {
  Tensor x = Tensor::zeros({2}).requires_grad_();
  Tensor y = ops::scale(x, 2.0f);
  EXPECT_THROW(y.requires_grad_(), ValueError);
  EXPECT_THROW(Tensor::zeros({2}, DType::I32).requires_grad_(), DTypeError);
}

TEST(Autograd, DetachCutsTheGraph) {
  Tensor x = Tensor::from_data({2}, std::vector<float>{1, 2}).requires_grad_();
  Tensor y = ops::mul(x, ops::scale(x, 1.0f).detach());  // d/dx = detached x
  ops::sum(y).backward();
  EXPECT_EQ(x.grad().to_vector(), std::vector<float>({1, 2}));
}

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "cornerstone/autograd/checkpoint.h"
#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/autograd/graph.h"
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

namespace {

// Records what a BackwardObserver hears: each leaf by name with its gradient at that moment.
struct Listener final : autograd::BackwardObserver {
  std::map<const autograd::AutogradMeta*, std::string> names;
  std::vector<std::pair<std::string, std::vector<float>>> ready;
  int nodes = 0, done = 0;
  void leaf_ready(autograd::AutogradMeta& leaf) override {
    const auto it = names.find(&leaf);
    ready.emplace_back(it == names.end() ? "?" : it->second, leaf.grad.defined() ? leaf.grad.to_vector() : std::vector<float>{});
  }
  void node_done() override { ++nodes; }
  void backward_done() override { ++done; }
};

}  // namespace

// Data parallelism starts reducing a gradient during the backward pass once the observer hears of
// it: that must be once per leaf, right after the last node that feeds it, with the gradient
// then complete.
TEST(Autograd, AnObserverHearsOfEachLeafOnceWhenItsGradientIsComplete) {
  Tensor a = Tensor::from_data({2}, std::vector<float>{1, 2}).requires_grad_();
  Tensor b = Tensor::from_data({2}, std::vector<float>{3, 4}).requires_grad_();
  Tensor c = Tensor::from_data({2}, std::vector<float>{5, 6}).requires_grad_();
  // y = sum((a * b) * c) + sum(a): c is last used, a both first and last.
  Tensor y = ops::add(ops::sum(ops::mul(ops::mul(a, b), c)), ops::sum(a));
  Listener l;
  l.names = {{a.autograd_meta().get(), "a"}, {b.autograd_meta().get(), "b"}, {c.autograd_meta().get(), "c"}};
  {
    autograd::ObserveBackward watch(&l);
    y.backward();
  }
  ASSERT_EQ(l.ready.size(), 3u);
  EXPECT_EQ(l.ready[0].first, "c");  // its only consumer, the second multiply, runs before the first
  EXPECT_EQ(l.ready[0].second, std::vector<float>({3, 8}));
  // a and b, both after the first multiply (in the order that node names its inputs); a complete:
  // both of its uses (b * c + 1) summed in.
  std::map<std::string, std::vector<float>> rest{l.ready[1], l.ready[2]};
  EXPECT_EQ(rest["a"], std::vector<float>({16, 25}));
  EXPECT_EQ(rest["b"], std::vector<float>({5, 12}));
  EXPECT_EQ(l.nodes, 5);
  EXPECT_EQ(l.done, 1);
  // Without an observer nothing is reported; the gradients are the same.
  EXPECT_EQ(a.grad().to_vector(), std::vector<float>({16, 25}));
}

// Activation checkpointing's inner passes report the parameters of their segment when the segment
// is done. A parameter shared by two checkpointed segments would be reported before its gradient
// is complete: its later contribution is refused rather than lost, and without an observer the
// same model trains.
TEST(Autograd, AGradientAfterItsLeafWasReportedCompleteIsRefused) {
  Tensor w = Tensor::from_data({2}, std::vector<float>{2, 3}).requires_grad_();
  Tensor x = Tensor::from_data({2}, std::vector<float>{1, 1}).requires_grad_();
  auto segment = [&](const Tensor& h) { return ops::mul(h, w); };
  auto forward = [&] { return ops::sum(autograd::checkpoint(segment, autograd::checkpoint(segment, x))); };
  Listener l;
  l.names = {{w.autograd_meta().get(), "w"}};
  {
    autograd::ObserveBackward watch(&l);
    try {
      forward().backward();
      FAIL() << "expected the late gradient to be refused";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("declared it complete"), std::string::npos) << e.what();
    }
  }
  // The leaves are unsealed when the pass ends, even by an exception: an unobserved pass works.
  w.zero_grad(), x.zero_grad();
  forward().backward();
  EXPECT_EQ(w.grad().to_vector(), std::vector<float>({2 * 2 * 1, 2 * 3 * 1}));  // d(x w w)/dw = 2 x w
}

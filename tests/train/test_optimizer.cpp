// AdamW steps and gradient clipping against torch.optim.AdamW.
#include <gtest/gtest.h>

#include <cmath>

#include "cornerstone/core/rng.h"
#include "cornerstone/kernels/optim.h"
#include "cornerstone/train/optimizer.h"
#include "oracle.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;

TEST(AdamW, FiveStepsMatchTorch) {
  Rng rng(11);
  for (bool decay : {true, false}) {
    // A matrix gets weight decay, a vector does not (the GPT recipe).
    const Shape shape = decay ? Shape{7, 19} : Shape{133};
    Tensor p = Tensor::uniform(shape, rng, -1, 1).requires_grad_();
    const Tensor p0 = p.detach().clone();
    train::AdamWConfig cfg;
    cfg.lr = 1e-2f, cfg.beta1 = 0.9f, cfg.beta2 = 0.95f, cfg.eps = 1e-8f, cfg.weight_decay = 0.1f;
    train::AdamW opt({{"p", p}}, cfg);
    std::vector<Tensor> grads;
    for (int s = 0; s < 5; ++s) {
      Tensor g = Tensor::uniform(shape, rng, -1, 1);
      grads.push_back(g);
      p.set_grad(g.clone());
      opt.step(cfg.lr);
    }
    std::vector<Tensor> inputs{p0};
    inputs.insert(inputs.end(), grads.begin(), grads.end());
    const auto ref = Oracle::instance().run("adamw", inputs,
                                            {{"lr", cfg.lr}, {"beta1", cfg.beta1}, {"beta2", cfg.beta2},
                                             {"eps", cfg.eps}, {"weight_decay", decay ? cfg.weight_decay : 0.0f}});
    EXPECT_TRUE(all_close(p.detach(), ref.outputs[0], 1e-5, 1e-6)) << "parameter";
    const auto st = opt.state();
    EXPECT_TRUE(all_close(st[0].second, ref.outputs[1], 1e-5, 1e-7)) << "exp_avg";
    EXPECT_TRUE(all_close(st[1].second, ref.outputs[2], 1e-5, 1e-9)) << "exp_avg_sq";
  }
}

TEST(AdamW, SkipsParametersWithoutGradientAndRestoresState) {
  Tensor a = Tensor::full({4}, 1.0f).requires_grad_(), b = Tensor::full({4}, 1.0f).requires_grad_();
  train::AdamW opt({{"a", a}, {"b", b}}, {});
  a.set_grad(Tensor::full({4}, 0.5f));
  opt.step(0.1f);
  EXPECT_EQ(b.to_vector(), std::vector<float>(4, 1.0f));
  EXPECT_NE(a.to_vector(), std::vector<float>(4, 1.0f));
  train::AdamW other({{"a", a}, {"b", b}}, {});
  other.load_state(opt.state(), opt.steps());
  EXPECT_EQ(other.steps(), 1);
  EXPECT_EQ(other.state()[0].second.to_vector(), opt.state()[0].second.to_vector());
}

TEST(ClipGradNorm, ScalesToTheMaximumNorm) {
  Tensor a = Tensor::zeros({3}).requires_grad_(), b = Tensor::zeros({1}).requires_grad_();
  a.set_grad(Tensor::from_data({3}, std::vector<float>{3, 0, 0}));
  b.set_grad(Tensor::from_data({1}, std::vector<float>{4}));
  EXPECT_NEAR(train::clip_grad_norm({a, b}, 1.0), 5.0, 1e-9);
  EXPECT_NEAR(a.grad().at({0}), 0.6f, 1e-5);
  EXPECT_NEAR(b.grad().at({0}), 0.8f, 1e-5);
  EXPECT_NEAR(train::clip_grad_norm({a, b}, 10.0), 1.0, 1e-5);  // below the max: unchanged
}

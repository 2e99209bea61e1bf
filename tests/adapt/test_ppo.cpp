// PPO's pieces (adapt/ppo.h): the clipped policy and value losses and their gradients against
// PyTorch reference code (TRL's PPOTrainer formulas) and finite differences, with ratios and value
// steps inside and outside the clip ranges; generalised advantage estimation against the sum that
// defines it; token rewards; whitening.
#include <gtest/gtest.h>

#include <cmath>

#include "cornerstone/adapt/ppo.h"
#include "cornerstone/core/error.h"
#include "op_check.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;

namespace {

Tensor vec(std::vector<float> v) { return Tensor::from_data({static_cast<int64_t>(v.size())}, v); }

}  // namespace

TEST(Ppo, PolicyLossAndGradientMatchPyTorch) {
  // log ratios 0.05 and -0.1 stay inside a 0.2 clip; 0.5 and -0.5 fall outside, with advantages of
  // both signs, so that each branch of the max wins somewhere.
  const Tensor old = vec({-1.0f, -2.0f, -0.5f, -3.0f, -1.5f, -0.7f});
  const std::vector<float> log_ratio = {0.05f, -0.1f, 0.5f, -0.5f, 0.5f, -0.5f};
  std::vector<float> logp(log_ratio.size());
  for (size_t i = 0; i < logp.size(); ++i) logp[i] = old.to_vector()[i] + log_ratio[i];
  OpCase c;
  c.oracle_op = "ppo_policy_loss";
  c.attrs = {{"clip", 0.2}};
  c.inputs = {vec(logp), old, vec({1.5f, -0.8f, 2.0f, 1.0f, -1.2f, -0.6f})};
  c.grad = {true, false, false};
  c.run = [](const std::vector<Tensor>& in) { return adapt::ppo_policy_loss(in[0], in[1], in[2], 0.2f); };
  check_against_oracle(c);
  check_finite_differences(c, 24, 1e-3f);
  EXPECT_THROW(adapt::ppo_policy_loss(vec({1}), vec({1, 2}), vec({1}), 0.2f), ShapeError);
  EXPECT_THROW(adapt::ppo_policy_loss(vec({1}), vec({1}), vec({1}), 0.0f), ValueError);
}

TEST(Ppo, ValueLossAndGradientMatchPyTorch) {
  // Steps from the rollout's values of 0.05 (inside a 0.2 clip), 0.5 and -0.7 (outside), toward and
  // away from the returns.
  OpCase c;
  c.oracle_op = "ppo_value_loss";
  c.attrs = {{"clip", 0.2}};
  c.inputs = {vec({0.55f, 1.5f, -0.2f, 0.3f, 2.0f}), vec({0.5f, 1.0f, 0.5f, 0.8f, 1.4f}), vec({1.0f, 0.0f, 0.4f, 1.2f, 3.0f})};
  c.grad = {true, false, false};
  c.run = [](const std::vector<Tensor>& in) { return adapt::ppo_value_loss(in[0], in[1], in[2], 0.2f); };
  check_against_oracle(c);
  check_finite_differences(c, 24, 1e-3f);
}

TEST(Ppo, AdvantagesAreTheDiscountedSumsOfTemporalDifferences) {
  const std::vector<float> rewards = {-0.02f, 0.01f, -0.03f, 1.0f}, values = {0.4f, 0.5f, 0.3f, 0.7f};
  for (const auto& [gamma, lambda] : {std::pair{1.0f, 0.95f}, std::pair{0.9f, 0.5f}}) {
    const adapt::Advantages a = adapt::generalized_advantages(rewards, values, gamma, lambda);
    for (size_t t = 0; t < rewards.size(); ++t) {
      // A_t = sum_k (gamma lambda)^k delta_{t+k}, delta_t = r_t + gamma V_{t+1} - V_t, V_T = 0.
      double expected = 0;
      for (size_t k = t; k < rewards.size(); ++k) {
        const double next = k + 1 < values.size() ? values[k + 1] : 0.0;
        expected += std::pow(static_cast<double>(gamma) * lambda, static_cast<double>(k - t)) * (rewards[k] + gamma * next - values[k]);
      }
      EXPECT_NEAR(a.advantages[t], expected, 1e-6) << "t " << t;
      EXPECT_NEAR(a.returns[t], expected + values[t], 1e-6) << "t " << t;
    }
  }
  EXPECT_THROW(adapt::generalized_advantages({1, 2}, {1}, 1, 1), ShapeError);
}

TEST(Ppo, TokenRewardsAndWhitening) {
  const auto r = adapt::ppo_token_rewards({-1.0f, -2.0f, -0.5f}, {-1.5f, -2.0f, -0.25f}, 2.0f, 0.1f);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_NEAR(r[0], -0.05f, 1e-7);
  EXPECT_NEAR(r[1], 0.0f, 1e-7);
  EXPECT_NEAR(r[2], 0.025f + 2.0f, 1e-6) << "the score joins the KL penalty at the last token";
  EXPECT_THROW(adapt::ppo_token_rewards({}, {}, 1, 0.1f), ShapeError);
  const auto w = adapt::whiten({1, 2, 3, 6});
  double mean = 0, var = 0;
  for (float x : w) mean += x / 4.0;
  for (float x : w) var += (x - mean) * (x - mean) / 3.0;
  EXPECT_NEAR(mean, 0.0, 1e-6);
  EXPECT_NEAR(var, 1.0, 1e-5);
}

// Sampling: each filter keeps exactly the tokens it should, the draw follows the distribution,
// penalties move the right logits, the same seed gives the same tokens, bad values are errors.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <vector>

#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/infer/sampler.h"

namespace cornerstone::testing {
namespace {

using infer::sample_token;
using infer::SamplingParams;

std::map<int32_t, int> draw(const std::vector<float>& logits, const SamplingParams& p, int n, uint64_t seed = 1,
                            const std::vector<int32_t>& history = {}) {
  Rng rng(seed);
  std::map<int32_t, int> counts;
  for (int i = 0; i < n; ++i) ++counts[sample_token(logits, p, history, rng)];
  return counts;
}

std::set<int32_t> support(const std::map<int32_t, int>& counts) {
  std::set<int32_t> s;
  for (const auto& [id, n] : counts) s.insert(id);
  return s;
}

TEST(Sampler, GreedyAndTemperatureZeroTakeTheArgMax) {
  const std::vector<float> l = {0.1f, 3.0f, -2.0f, 2.9f};
  SamplingParams p;
  p.greedy = true;
  EXPECT_EQ(support(draw(l, p, 50)), std::set<int32_t>{1});
  p.greedy = false, p.temperature = 0.0f;
  EXPECT_EQ(support(draw(l, p, 50)), std::set<int32_t>{1});
}

TEST(Sampler, DrawsFollowTheSoftmaxAtTheTemperature) {
  const std::vector<float> l = {0.0f, std::log(2.0f), std::log(4.0f)};  // p = 1/7, 2/7, 4/7 at T = 1
  SamplingParams p;
  p.temperature = 1.0f;
  const int n = 40000;
  auto c = draw(l, p, n);
  EXPECT_NEAR(c[0] / double(n), 1 / 7.0, 0.01);
  EXPECT_NEAR(c[1] / double(n), 2 / 7.0, 0.01);
  EXPECT_NEAR(c[2] / double(n), 4 / 7.0, 0.01);
  p.temperature = 0.5f;  // p ~ 1, 4, 16
  c = draw(l, p, n);
  EXPECT_NEAR(c[2] / double(n), 16 / 21.0, 0.01);
}

TEST(Sampler, TopKTopPAndMinPKeepExactlyTheirTokens) {
  const std::vector<float> l = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 2;
  EXPECT_EQ(support(draw(l, p, 2000)), (std::set<int32_t>{0, 1}));
  p.top_k = 0, p.top_p = 0.79f;  // 0.5 + 0.3 reaches 0.79
  EXPECT_EQ(support(draw(l, p, 2000)), (std::set<int32_t>{0, 1}));
  p.top_p = 0.45f;
  EXPECT_EQ(support(draw(l, p, 2000)), (std::set<int32_t>{0}));
  p.top_p = 1.0f, p.min_p = 0.25f;  // keep p >= 0.125
  EXPECT_EQ(support(draw(l, p, 2000)), (std::set<int32_t>{0, 1, 2}));
  // Top-k then top-p over the renormalised top 3: 0.5 / 0.95 = 0.53 < 0.6 needs the second token.
  p.min_p = 0.0f, p.top_k = 3, p.top_p = 0.6f;
  EXPECT_EQ(support(draw(l, p, 2000)), (std::set<int32_t>{0, 1}));
}

TEST(Sampler, NucleusOfAFlatDistributionOverALargeVocabulary) {
  // Equal logits: the nucleus is the first half by id (ties break by id) and needs far more than
  // the first partial sort's 256 candidates.
  const std::vector<float> l(5000, 1.0f);
  SamplingParams p;
  p.temperature = 1.0f, p.top_p = 0.5f;
  const auto c = draw(l, p, 4000);
  EXPECT_LT(*support(c).rbegin(), 2500);
  EXPECT_GT(support(c).size(), 1500u) << "the draw should spread over the whole nucleus";
}

TEST(Sampler, PenaltiesMoveTheLogitsOfSeenTokens) {
  SamplingParams p;
  p.greedy = true;
  // Repetition: positive logits are divided, negative multiplied.
  p.repetition_penalty = 2.0f;
  EXPECT_EQ(draw({2.0f, 1.9f}, p, 1, 1, {0}).begin()->first, 1);
  EXPECT_EQ(draw({-1.0f, -1.5f}, p, 1, 1, {0}).begin()->first, 1);  // -2 < -1.5
  EXPECT_EQ(draw({2.0f, 1.9f}, p, 1, 1, {1}).begin()->first, 0);
  // Presence: subtracted once however often the token was seen.
  p.repetition_penalty = 1.0f, p.presence_penalty = 0.5f;
  EXPECT_EQ(draw({2.0f, 1.6f}, p, 1, 1, {0, 0, 0}).begin()->first, 1);
  EXPECT_EQ(draw({2.0f, 1.4f}, p, 1, 1, {0, 0, 0}).begin()->first, 0);
}

TEST(Sampler, SameSeedSameTokens) {
  std::vector<float> l(1000);
  for (size_t i = 0; i < l.size(); ++i) l[i] = std::sin(static_cast<float>(i));
  SamplingParams p;
  p.temperature = 0.9f, p.top_k = 50, p.top_p = 0.95f;
  auto run = [&](uint64_t seed) {
    Rng rng(seed);
    std::vector<int32_t> out;
    for (int i = 0; i < 100; ++i) out.push_back(sample_token(l, p, out, rng));
    return out;
  };
  EXPECT_EQ(run(5), run(5));
  EXPECT_NE(run(5), run(6));
}

TEST(Sampler, BadValuesNameTheParameter) {
  auto fails_with = [](SamplingParams p, const std::string& name) {
    try {
      p.validate();
      return ::testing::AssertionFailure() << "no error for " << name;
    } catch (const ValueError& e) {
      if (std::string(e.what()).find(name) == std::string::npos) return ::testing::AssertionFailure() << e.what();
      return ::testing::AssertionSuccess();
    }
  };
  SamplingParams p;
  p.temperature = -1;
  EXPECT_TRUE(fails_with(p, "temperature"));
  p = {}, p.temperature = NAN;
  EXPECT_TRUE(fails_with(p, "temperature"));
  p = {}, p.top_k = -3;
  EXPECT_TRUE(fails_with(p, "top_k"));
  p = {}, p.top_p = 0;
  EXPECT_TRUE(fails_with(p, "top_p"));
  p = {}, p.top_p = 1.5f;
  EXPECT_TRUE(fails_with(p, "top_p"));
  p = {}, p.min_p = 1;
  EXPECT_TRUE(fails_with(p, "min_p"));
  p = {}, p.repetition_penalty = 0;
  EXPECT_TRUE(fails_with(p, "repetition_penalty"));
  p = {}, p.presence_penalty = INFINITY;
  EXPECT_TRUE(fails_with(p, "presence_penalty"));
  Rng rng(1);
  EXPECT_THROW(sample_token({}, SamplingParams{}, {}, rng), ValueError);
}

}  // namespace
}  // namespace cornerstone::testing

// --time's schedule sizing (train/time_budget.h): sized once the step time is known, then
// corrected at 25/50/75% of the budget when the machine's speed changed by more than 3%, by the
// median step time (a pause is not a slowdown).
#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "cornerstone/core/error.h"
#include "cornerstone/train/time_budget.h"

using namespace cornerstone;
using namespace cornerstone::train;

namespace {

// Runs a 100 s budget whose steps take `seconds(step)` each; returns the schedule's lengths as sized.
std::vector<int64_t> plans(const std::function<double(int64_t)>& seconds) {
  TimeBudget budget(100.0);
  std::vector<int64_t> out;
  double t = 0;
  for (int64_t step = 1; !budget.spent(t); ++step) {
    t += seconds(step);
    if (const auto total = budget.observe(step, step, t, 0.0, 0)) out.push_back(*total);
  }
  return out;
}

}  // namespace

TEST(TimeBudget, SizesOnceWhenTheSpeedHolds) {
  // 0.1 s per step: 1000 steps fit; sized at step 10 and never corrected.
  const auto p = plans([](int64_t) { return 0.1; });
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NEAR(static_cast<double>(p[0]), 1000.0, 2.0);
}

TEST(TimeBudget, ResizesWhenTheMachineSlowsDown) {
  // Twice as slow from 20 s on (another job starts): the first plan (1000 steps) would leave the
  // cosine half-decayed at the deadline; the 25% check shortens it to what the budget holds.
  const auto p = plans([](int64_t step) { return step <= 200 ? 0.1 : 0.2; });
  ASSERT_GE(p.size(), 2u);
  EXPECT_NEAR(static_cast<double>(p[0]), 1000.0, 2.0);
  EXPECT_NEAR(static_cast<double>(p.back()), 600.0, 6.0);  // 200 steps in 20 s, then 80 s / 0.2 s
  EXPECT_LE(p.size(), 4u) << "at most three corrections";
}

TEST(TimeBudget, ResizesWhenTheMachineSpeedsUp) {
  // A slow start (a build running beside it) then full speed: the schedule grows to fill the budget.
  const auto p = plans([](int64_t step) { return step <= 100 ? 0.3 : 0.1; });
  ASSERT_GE(p.size(), 2u);
  EXPECT_LT(p[0], 400);
  EXPECT_NEAR(static_cast<double>(p.back()), 800.0, 8.0);  // 100 steps in 30 s, then 70 s / 0.1 s
}

TEST(TimeBudget, APauseCostsItsOwnTimeAndNoMore) {
  // 0.1 s per step, but one step at 30 s takes 20 s (the process was stopped): the budget then
  // holds 800 steps, not fewer; the step time after the pause is still 0.1 s.
  const auto p = plans([](int64_t step) { return step == 300 ? 20.0 : 0.1; });
  ASSERT_GE(p.size(), 2u);
  EXPECT_NEAR(static_cast<double>(p[0]), 1000.0, 2.0);
  EXPECT_NEAR(static_cast<double>(p.back()), 800.0, 8.0);
  for (int64_t total : p) EXPECT_GE(total, 790) << "never shortened below what the budget holds";
}

TEST(TimeBudget, ParsesDurations) {
  EXPECT_DOUBLE_EQ(parse_duration("90"), 90.0);
  EXPECT_DOUBLE_EQ(parse_duration("5m"), 300.0);
  EXPECT_DOUBLE_EQ(parse_duration("1.5h"), 5400.0);
  EXPECT_THROW(parse_duration("5 minutes"), ValueError);
  EXPECT_THROW(parse_duration("-1m"), ValueError);
}

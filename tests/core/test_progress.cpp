// Progress: the ETA counts the rate of the work done since the bar started, so a resumed run
// (resume_from) does not credit the steps done before it to the first seconds of this process.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "cornerstone/core/progress.h"

using cornerstone::Progress;

TEST(Progress, EtaFromTheRateSinceStartOrResume) {
  Progress fresh("t", 100, "steps"), resumed("t", 100, "steps");
  resumed.resume_from(90);
  EXPECT_LT(fresh.eta_seconds(), 0);  // nothing done yet: unknown
  EXPECT_LT(resumed.eta_seconds(), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  fresh.update(50);
  resumed.update(95);
  const double el = fresh.elapsed_seconds();
  EXPECT_NEAR(fresh.eta_seconds(), el, 0.05 * el + 0.01);  // half done in el: el to go
  // 5 steps in ~el seconds, 5 to go: about el more (not 5/95 of it, as if all 95 were done here).
  EXPECT_NEAR(resumed.eta_seconds(), resumed.elapsed_seconds(), 0.05 * el + 0.01);
  resumed.update(100);
  EXPECT_LT(resumed.eta_seconds(), 0);  // done
}

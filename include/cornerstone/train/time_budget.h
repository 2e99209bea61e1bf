// --time: a run that stops when its time is spent, with its learning-rate schedule sized to fit.
//
// The step time is measured over the steps after the first three (which pay for JIT and first
// touch), up to step 10 or 10% of the budget; then the schedule's length becomes
//
//   total = step + max(1, time left / (step time + validation time per step))
//
// At 25%, 50% and 75% of the budget it is checked again against the median duration of the steps
// since the last check (plus validation's share), and re-sized when the plan is off by more than
// 3%: a machine that slows down or speeds up (another job starting or ending) would otherwise stop
// the run at its deadline before the learning rate has decayed, or finish it early. The median,
// not the mean: a pause (a stopped process, a long checkpoint) has already taken its time out of
// what is left, and counted as slowness to come it would shorten the run for good (a 60-minute
// ResNet run paused for 6 minutes ended at 45). Three corrections at most, each a small step in the
// cosine's progress. The run also ends at the first step boundary past the budget, whatever the
// schedule says.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cornerstone::train {

class TimeBudget {
 public:
  explicit TimeBudget(double seconds);  // <= 0: no budget
  bool limited() const { return seconds_ > 0; }
  // After each step: `done` steps taken by this invocation, `elapsed` seconds since it started,
  // `eval_seconds` the last validation's duration, run every `eval_every` steps (0: at the end).
  // Returns the schedule's new length once, when the step time is known.
  std::optional<int64_t> observe(int64_t step, int64_t done, double elapsed, double eval_seconds, int64_t eval_every);
  bool spent(double elapsed) const { return seconds_ > 0 && elapsed >= seconds_; }

 private:
  double seconds_;
  bool sized_ = false;
  double mark_ = 0;          // elapsed seconds after the third step
  int64_t planned_ = 0;      // the schedule's length as last sized
  double next_check_ = 0;    // the next re-check, as a share of the budget (past 0.75: none)
  double last_elapsed_ = 0;  // at the previous step
  std::vector<double> window_;  // the durations of the steps since the last sizing
};

// A --time value: "90", "90s", "5m", "1.5h" -> seconds. Throws ValueError with examples.
double parse_duration(const std::string& s);

}  // namespace cornerstone::train

#include "cornerstone/train/time_budget.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "cornerstone/core/error.h"

namespace cornerstone::train {

TimeBudget::TimeBudget(double seconds) : seconds_(seconds) {}

std::optional<int64_t> TimeBudget::observe(int64_t step, int64_t done, double elapsed, double eval_seconds, int64_t eval_every) {
  if (seconds_ <= 0) return std::nullopt;
  const double left = seconds_ - elapsed;
  if (sized_) window_.push_back(elapsed - last_elapsed_);
  last_elapsed_ = elapsed;
  if (!sized_) {
    if (done == 3) mark_ = elapsed;
    if (done < 3 || !(done == 10 || elapsed > 0.1 * seconds_)) return std::nullopt;
    const double per_step = done > 3 ? (elapsed - mark_) / static_cast<double>(done - 3) : elapsed / 3.0;
    const double eval_share = eval_every > 0 ? eval_seconds / static_cast<double>(eval_every) : 0.0;
    sized_ = true;
    planned_ = step + std::max<int64_t>(1, static_cast<int64_t>(left / (per_step + eval_share)));
    next_check_ = 0.25;
    return planned_;
  }
  if (next_check_ > 0.75 || elapsed < next_check_ * seconds_ || window_.empty()) return std::nullopt;
  while (next_check_ <= 0.75 && elapsed >= next_check_ * seconds_) next_check_ += 0.25;
  // The median duration of the steps since the last sizing, plus validation's share: the speed the
  // machine runs at now. A mean would count a pause (a stopped process, a checkpoint, a burst of
  // other work) as slowness to come and shorten the run for good; the time it took is already
  // gone from `left`.
  std::nth_element(window_.begin(), window_.begin() + static_cast<std::ptrdiff_t>(window_.size() / 2), window_.end());
  const double eval_share = eval_every > 0 ? eval_seconds / static_cast<double>(eval_every) : 0.0;
  const double per_step = window_[window_.size() / 2] + eval_share;
  window_.clear();
  const int64_t total = step + std::max<int64_t>(1, static_cast<int64_t>(left / per_step));
  if (std::abs(static_cast<double>(total - planned_)) <= 0.03 * static_cast<double>(planned_)) return std::nullopt;
  planned_ = total;
  return planned_;
}

double parse_duration(const std::string& s) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  const std::string unit = end ? std::string(end) : "";
  double scale = 0;
  if (unit.empty() || unit == "s") scale = 1;
  else if (unit == "m" || unit == "min") scale = 60;
  else if (unit == "h") scale = 3600;
  if (end == s.c_str() || scale == 0 || !(v > 0))
    throw ValueError("--time: cannot read '" + s + "' as a duration (examples: 90s, 5m, 1.5h)");
  return v * scale;
}

}  // namespace cornerstone::train

// A progress line for long work: done/total, rate, ETA and a caller-supplied status, redrawn in
// place on a terminal and printed every few seconds otherwise (logs stay readable).
//
//   Progress bar("pretrain", total_steps, "step");
//   bar.update(step, "loss 3.21 | 41k tok/s");
//   bar.finish();
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace cornerstone {

class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit = "");
  // total may change (e.g. a time-limited run that learns its step count).
  void set_total(int64_t total) { total_ = total; }
  // Work already done before this bar started (a resumed run): the rate and ETA count only what
  // is done from here on.
  void resume_from(int64_t done) { base_ = done_ = done; }
  void update(int64_t done, const std::string& status = "");
  void finish(const std::string& status = "");
  double elapsed_seconds() const;
  // Seconds left at the rate since the start (or resume_from); negative when unknown.
  double eta_seconds() const;
  static std::string format_duration(double seconds);  // "1h02m", "4m05s", "12s"

 private:
  void draw(bool final);
  std::string label_, unit_, status_;
  int64_t total_, done_ = 0, base_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool tty_;
  bool drawn_ = false;
};

}  // namespace cornerstone

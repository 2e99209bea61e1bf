// The training engine's log: RUN/metrics.jsonl (one JSON object per line, flushed as the run goes)
// and the progress line (step, loss, validation, tokens/s, MFU, ETA) on stderr.
//
//   {"step": 120, "loss": 3.41, "lr": 0.0006, "grad_norm": 0.8, "tokens_per_s": 41000, "mfu": 0.31,
//    "elapsed_s": 64.2, "activation_mb": 12.5, "step_peak_mb": 30.1}      every step
//   ... + "val_loss" (pretraining) or the task's keys ("epoch", "val": {...}) on validation steps
//   {"step": 0, "val_loss": 6.2}                                           before the first step
#pragma once

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cornerstone/core/progress.h"

namespace cornerstone::train {

class MetricsLog {
 public:
  // A new run (no `resume_step`) starts `path` afresh; a resumed run appends to it after dropping
  // the lines of steps after `resume_step` (written after its checkpoint, they are written again)
  // and a torn last line.
  MetricsLog(const std::string& path, std::optional<int64_t> resume_step);
  void write(const nlohmann::json& line);

 private:
  std::ofstream out_;
};

// The progress line of a run; quiet: draws nothing.
class ProgressLine {
 public:
  // unit: what the rate counts ("tokens" shows as "tok/s", "images" as "img/s")
  ProgressLine(const std::string& label, int64_t total_steps, int64_t done, bool quiet, const std::string& unit = "tokens");
  void set_total(int64_t total_steps);
  // "<note>loss 3.4121 val 3.5012 | 41.0k tok/s | MFU 31%" (mfu NaN: no MFU part)
  void update(int64_t step, const std::string& note, double loss, double val, double inputs_per_s, double mfu);
  void finish();

 private:
  Progress progress_;
  bool quiet_;
  std::string rate_unit_;  // "tok", "img"
};

// 1234567 -> "1.2M", 950 -> "950".
std::string human_count(double x);

}  // namespace cornerstone::train

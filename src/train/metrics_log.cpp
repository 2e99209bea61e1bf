#include "cornerstone/train/metrics_log.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "cornerstone/io/atomic_file.h"

namespace cornerstone::train {

namespace fs = std::filesystem;

namespace {

// Keeps the metric lines of steps <= `step` (a resumed run rewrites what came after).
void truncate_metrics(const fs::path& path, int64_t step) {
  if (!fs::exists(path)) return;
  std::ifstream in(path);
  std::ostringstream keep;
  for (std::string line; std::getline(in, line);) {
    try {
      const auto j = nlohmann::json::parse(line);
      if (j.value("step", int64_t{0}) <= step) keep << line << "\n";
    } catch (const nlohmann::json::exception&) {
      break;  // a torn last line
    }
  }
  io::write_file_atomic(path.string(), keep.str());
}

}  // namespace

MetricsLog::MetricsLog(const std::string& path, std::optional<int64_t> resume_step) {
  // A resumed run continues the log; a new one starts it afresh (a run killed before its first
  // checkpoint and started again must not append to the dead run's lines).
  if (resume_step) truncate_metrics(path, *resume_step);
  out_.open(path, resume_step ? std::ios::app : std::ios::trunc);
}

void MetricsLog::write(const nlohmann::json& line) {
  out_ << line.dump() << "\n";
  out_.flush();
}

ProgressLine::ProgressLine(const std::string& label, int64_t total_steps, int64_t done, bool quiet, const std::string& unit)
    : progress_(label, total_steps, "steps"), quiet_(quiet), rate_unit_(unit == "tokens" ? "tok" : unit == "images" ? "img" : unit) {
  progress_.resume_from(done);
}

void ProgressLine::set_total(int64_t total_steps) { progress_.set_total(total_steps); }

void ProgressLine::update(int64_t step, const std::string& note, double loss, double val, double inputs_per_s, double mfu) {
  if (quiet_) return;
  char status[200], val_part[32] = "";
  if (val > 0) std::snprintf(val_part, sizeof val_part, " val %.4f", val);
  char mfu_part[32] = "";
  if (!std::isnan(mfu)) std::snprintf(mfu_part, sizeof mfu_part, " | MFU %.0f%%", 100 * mfu);
  std::snprintf(status, sizeof status, "%sloss %.4f%s | %s %s/s%s", note.c_str(), loss, val_part, human_count(inputs_per_s).c_str(),
                rate_unit_.c_str(), mfu_part);
  progress_.update(step, status);
}

void ProgressLine::finish() {
  if (!quiet_) progress_.finish();
}

std::string human_count(double x) {
  char buf[32];
  if (x >= 1e9) std::snprintf(buf, sizeof buf, "%.2fB", x / 1e9);
  else if (x >= 1e6) std::snprintf(buf, sizeof buf, "%.1fM", x / 1e6);
  else if (x >= 1e3) std::snprintf(buf, sizeof buf, "%.1fk", x / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f", x);
  return buf;
}

}  // namespace cornerstone::train

#include "cornerstone/core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace cornerstone {

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), start_(std::chrono::steady_clock::now()),
      last_draw_(start_), tty_(isatty(STDERR_FILENO) != 0) {}

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double Progress::eta_seconds() const {
  if (total_ <= 0 || done_ <= base_ || done_ >= total_) return -1;
  return elapsed_seconds() / static_cast<double>(done_ - base_) * static_cast<double>(total_ - done_);
}

std::string Progress::format_duration(double s) {
  char buf[32];
  const long t = static_cast<long>(s + 0.5);
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

void Progress::update(int64_t done, const std::string& status) {
  done_ = done;
  status_ = status;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if (!drawn_ || since >= (tty_ ? 0.1 : 10.0)) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish(const std::string& status) {
  if (!status.empty()) status_ = status;
  draw(true);
}

void Progress::draw(bool final) {
  drawn_ = true;
  const double el = elapsed_seconds();
  std::string bar;
  if (total_ > 0) {
    const double frac = std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_));
    const int width = 24, fill = static_cast<int>(frac * width);
    bar = "[" + std::string(static_cast<size_t>(fill), '#') + std::string(static_cast<size_t>(width - fill), '.') + "] ";
  }
  std::string eta;
  if (const double left = eta_seconds(); !final && left >= 0) eta = " | ETA " + format_duration(left);
  char head[160];
  if (total_ > 0)
    std::snprintf(head, sizeof head, "%s %s%lld/%lld%s%s", label_.c_str(), bar.c_str(), static_cast<long long>(done_),
                  static_cast<long long>(total_), unit_.empty() ? "" : " ", unit_.c_str());
  else
    std::snprintf(head, sizeof head, "%s %lld%s%s", label_.c_str(), static_cast<long long>(done_), unit_.empty() ? "" : " ",
                  unit_.c_str());
  const std::string line = std::string(head) + (status_.empty() ? "" : " | " + status_) + " | " + format_duration(el) + eta;
  if (tty_)
    std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final ? "\n" : "");
  else
    std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace cornerstone

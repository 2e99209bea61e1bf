#include "serve/metrics.h"

#include <cstdio>

namespace cornerstone::serve {

namespace {

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

void Histogram::observe(double s) {
  size_t i = 0;
  while (i < kBounds.size() && s > kBounds[i]) ++i;
  ++counts_[i];
  sum_ += s;
  ++count_;
}

std::string Histogram::render(const std::string& name, const std::string& help) const {
  std::string out = "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += counts_[i];
    out += name + "_bucket{le=\"" + num(kBounds[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(count_) + "\n";
  out += name + "_sum " + num(sum_) + "\n" + name + "_count " + std::to_string(count_) + "\n";
  return out;
}

void Metrics::request(const std::string& route, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{route, status}];
}

void Metrics::embedded_tokens(int64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  embedded_tokens_ += n;
}

void Metrics::time_to_first_token(double s) {
  std::lock_guard<std::mutex> lock(mu_);
  ttft_.observe(s);
}

void Metrics::time_per_output_token(double s) {
  std::lock_guard<std::mutex> lock(mu_);
  tpot_.observe(s);
}

std::string Metrics::render(const std::vector<Sample>& samples) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out = "# HELP cornerstone_requests_total HTTP requests answered, by route and status.\n"
                    "# TYPE cornerstone_requests_total counter\n";
  for (const auto& [key, n] : requests_)
    out += "cornerstone_requests_total{route=\"" + key.first + "\",status=\"" + std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
  out += "# HELP cornerstone_embedded_tokens_total Tokens of the texts embedded.\n"
         "# TYPE cornerstone_embedded_tokens_total counter\ncornerstone_embedded_tokens_total " + std::to_string(embedded_tokens_) + "\n";
  for (const Sample& s : samples)
    out += "# HELP " + s.name + " " + s.help + "\n# TYPE " + s.name + " " + s.type + "\n" + s.name + " " + num(s.value) + "\n";
  out += ttft_.render("cornerstone_time_to_first_token_seconds", "Time from a completion request to its first token.");
  out += tpot_.render("cornerstone_time_per_output_token_seconds", "Time between consecutive output tokens of a completion.");
  return out;
}

}  // namespace cornerstone::serve

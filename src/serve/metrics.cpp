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

void Metrics::tokens(int64_t prompt, int64_t generated) {
  std::lock_guard<std::mutex> lock(mu_);
  prompt_tokens_ += prompt, generated_tokens_ += generated;
}

void Metrics::time_to_first_token(double s) {
  std::lock_guard<std::mutex> lock(mu_);
  ttft_.observe(s);
}

void Metrics::time_per_output_token(double s) {
  std::lock_guard<std::mutex> lock(mu_);
  tpot_.observe(s);
}

std::string Metrics::render(const std::map<std::string, std::pair<std::string, double>>& gauges) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out = "# HELP cornerstone_requests_total HTTP requests answered, by route and status.\n"
                    "# TYPE cornerstone_requests_total counter\n";
  for (const auto& [key, n] : requests_)
    out += "cornerstone_requests_total{route=\"" + key.first + "\",status=\"" + std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
  out += "# HELP cornerstone_prompt_tokens_total Prompt tokens of the completions answered.\n"
         "# TYPE cornerstone_prompt_tokens_total counter\ncornerstone_prompt_tokens_total " + std::to_string(prompt_tokens_) + "\n";
  out += "# HELP cornerstone_generated_tokens_total Tokens generated for the completions answered.\n"
         "# TYPE cornerstone_generated_tokens_total counter\ncornerstone_generated_tokens_total " + std::to_string(generated_tokens_) + "\n";
  for (const auto& [name, g] : gauges)
    out += "# HELP " + name + " " + g.first + "\n# TYPE " + name + " gauge\n" + name + " " + num(g.second) + "\n";
  out += ttft_.render("cornerstone_time_to_first_token_seconds", "Time from a completion request to its first token.");
  out += tpot_.render("cornerstone_time_per_output_token_seconds", "Time between consecutive output tokens of a completion.");
  return out;
}

}  // namespace cornerstone::serve

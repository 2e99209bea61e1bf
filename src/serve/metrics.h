// What /metrics reports, in Prometheus' text format (version 0.0.4): request counts by route and
// status, and per served model (label `model`, the id clients send): tokens in and out,
// histograms of the time to first token and the time per output token. Queue depth and busy
// slots are read from the schedulers when the page is rendered.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace cornerstone::serve {

// A histogram with fixed upper bounds (seconds), cumulative as Prometheus wants it.
class Histogram {
 public:
  static constexpr std::array<double, 12> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  void observe(double seconds);
  // The `name_bucket`, `name_sum` and `name_count` lines; `labels` ('model="gpt"') go first in each.
  std::string render(const std::string& name, const std::string& labels) const;

 private:
  std::array<uint64_t, kBounds.size() + 1> counts_{};  // the last: above every bound
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  // A value the caller reads from elsewhere (the schedulers) when the page is rendered.
  // Samples of one name are consecutive (one HELP / TYPE header for them).
  struct Sample {
    std::string name, help, type;  // type: "counter" or "gauge"
    double value;
    std::string model;             // the `model` label; empty: none
  };

  // A served model's series exist (at zero) from its registration on, as Prometheus prefers.
  void add_model(const std::string& id);
  void request(const std::string& route, int status);
  void embedded_tokens(const std::string& model, int64_t n);
  void time_to_first_token(const std::string& model, double seconds);
  void time_per_output_token(const std::string& model, double seconds);
  // Everything, with the caller's samples.
  std::string render(const std::vector<Sample>& samples) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, int64_t> embedded_tokens_;  // by model
  std::map<std::string, Histogram> ttft_, tpot_;    // by model
};

}  // namespace cornerstone::serve

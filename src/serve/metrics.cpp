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

std::string Histogram::render(const std::string& name, const std::string& labels) const {
  const std::string first = labels.empty() ? "" : labels + ",", only = labels.empty() ? "" : "{" + labels + "}";
  std::string out;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += counts_[i];
    out += name + "_bucket{" + first + "le=\"" + num(kBounds[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_bucket{" + first + "le=\"+Inf\"} " + std::to_string(count_) + "\n";
  out += name + "_sum" + only + " " + num(sum_) + "\n" + name + "_count" + only + " " + std::to_string(count_) + "\n";
  return out;
}

namespace {

// model="id", with the label value escaped as the text format wants (\\, \", \n).
std::string model_label(const std::string& id) {
  std::string v;
  for (char c : id) {
    if (c == '\\' || c == '"') v += '\\', v += c;
    else if (c == '\n') v += "\\n";
    else v += c;
  }
  return "model=\"" + v + "\"";
}

}  // namespace

void Metrics::add_model(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  embedded_tokens_[id], ttft_[id], tpot_[id];
}

void Metrics::request(const std::string& route, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{route, status}];
}

void Metrics::embedded_tokens(const std::string& model, int64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  embedded_tokens_[model] += n;
}

void Metrics::time_to_first_token(const std::string& model, double s) {
  std::lock_guard<std::mutex> lock(mu_);
  ttft_[model].observe(s);
}

void Metrics::time_per_output_token(const std::string& model, double s) {
  std::lock_guard<std::mutex> lock(mu_);
  tpot_[model].observe(s);
}

std::string Metrics::render(const std::vector<Sample>& samples) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out = "# HELP cornerstone_requests_total HTTP requests answered, by route and status.\n"
                    "# TYPE cornerstone_requests_total counter\n";
  for (const auto& [key, n] : requests_)
    out += "cornerstone_requests_total{route=\"" + key.first + "\",status=\"" + std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
  out += "# HELP cornerstone_embedded_tokens_total Tokens of the texts embedded.\n# TYPE cornerstone_embedded_tokens_total counter\n";
  for (const auto& [model, n] : embedded_tokens_) out += "cornerstone_embedded_tokens_total{" + model_label(model) + "} " + std::to_string(n) + "\n";
  for (size_t i = 0; i < samples.size(); ++i) {
    const Sample& s = samples[i];
    if (i == 0 || samples[i - 1].name != s.name) out += "# HELP " + s.name + " " + s.help + "\n# TYPE " + s.name + " " + s.type + "\n";
    out += s.name + (s.model.empty() ? "" : "{" + model_label(s.model) + "}") + " " + num(s.value) + "\n";
  }
  auto histograms = [&](const std::string& name, const std::string& help, const std::map<std::string, Histogram>& by_model) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
    for (const auto& [model, h] : by_model) out += h.render(name, model_label(model));
  };
  histograms("cornerstone_time_to_first_token_seconds", "Time from a completion request to its first token.", ttft_);
  histograms("cornerstone_time_per_output_token_seconds", "Time between consecutive output tokens of a completion.", tpot_);
  return out;
}

}  // namespace cornerstone::serve

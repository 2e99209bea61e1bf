#include "cornerstone/infer/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_set>
#include <vector>

#include "cornerstone/core/error.h"

namespace cornerstone::infer {

void SamplingParams::validate() const {
  auto need = [](bool ok, const std::string& msg) {
    if (!ok) throw ValueError("sampling: " + msg);
  };
  need(temperature >= 0 && std::isfinite(temperature), "temperature must be >= 0, got " + std::to_string(temperature));
  need(top_k >= 0, "top_k must be >= 0, got " + std::to_string(top_k));
  need(top_p > 0 && top_p <= 1, "top_p must be in (0, 1], got " + std::to_string(top_p));
  need(min_p >= 0 && min_p < 1, "min_p must be in [0, 1), got " + std::to_string(min_p));
  need(repetition_penalty > 0, "repetition_penalty must be > 0, got " + std::to_string(repetition_penalty));
  need(std::isfinite(presence_penalty), "presence_penalty must be finite");
}

int32_t sample_token(std::span<const float> logits, const SamplingParams& p, std::span<const int32_t> history, Rng& rng) {
  const size_t V = logits.size();
  if (V == 0) throw ValueError("sampling: empty logits");
  std::vector<float> l(logits.begin(), logits.end());
  if (p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f) {
    std::unordered_set<int32_t> seen(history.begin(), history.end());
    for (int32_t t : seen) {
      if (t < 0 || static_cast<size_t>(t) >= V) continue;
      float& x = l[static_cast<size_t>(t)];
      if (p.repetition_penalty != 1.0f) x = x > 0 ? x / p.repetition_penalty : x * p.repetition_penalty;
      x -= p.presence_penalty;
    }
  }
  if (p.greedy || p.temperature == 0.0f)
    return static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());

  // Candidates sorted by logit, descending (only as many as top-k needs).
  std::vector<int32_t> idx(V);
  std::iota(idx.begin(), idx.end(), 0);
  const size_t k = p.top_k > 0 ? std::min<size_t>(V, static_cast<size_t>(p.top_k)) : V;
  auto by_logit = [&](int32_t a, int32_t b) { return l[static_cast<size_t>(a)] > l[static_cast<size_t>(b)] || (l[static_cast<size_t>(a)] == l[static_cast<size_t>(b)] && a < b); };
  if (k < V) {
    std::partial_sort(idx.begin(), idx.begin() + static_cast<long>(k), idx.end(), by_logit);
    idx.resize(k);
  } else {
    std::sort(idx.begin(), idx.end(), by_logit);
  }
  // Softmax at the temperature over the candidates (double for the sums).
  const double inv_t = 1.0 / p.temperature, top = l[static_cast<size_t>(idx[0])];
  std::vector<double> prob(idx.size());
  double sum = 0;
  for (size_t i = 0; i < idx.size(); ++i) sum += prob[i] = std::exp((l[static_cast<size_t>(idx[i])] - top) * inv_t);
  for (double& x : prob) x /= sum;
  size_t keep = idx.size();
  if (p.top_p < 1.0f) {  // smallest prefix whose mass reaches top_p
    double mass = 0;
    for (size_t i = 0; i < keep; ++i) {
      mass += prob[i];
      if (mass >= p.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  if (p.min_p > 0.0f) {
    const double floor = p.min_p * prob[0];
    size_t i = 1;
    while (i < keep && prob[i] >= floor) ++i;
    keep = i;
  }
  double total = 0;
  for (size_t i = 0; i < keep; ++i) total += prob[i];
  double u = static_cast<double>(rng.uniform()) * total;
  for (size_t i = 0; i < keep; ++i) {
    u -= prob[i];
    if (u < 0) return idx[i];
  }
  return idx[keep - 1];
}

}  // namespace cornerstone::infer

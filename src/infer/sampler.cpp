#include "cornerstone/infer/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>
#include <vector>

#include "cornerstone/core/error.h"
#include "cornerstone/kernels/elementwise.h"
#include "cornerstone/kernels/softmax.h"

namespace cornerstone::infer {

void SamplingParams::validate() const {
  auto need = [](bool ok, const std::string& msg) {
    if (!ok) throw ValueError("sampling: " + msg);
  };
  need(temperature >= 0 && std::isfinite(temperature), "temperature must be >= 0, got " + std::to_string(temperature));
  need(top_k >= 0, "top_k must be >= 0, got " + std::to_string(top_k));
  need(top_p > 0 && top_p <= 1, "top_p must be in (0, 1], got " + std::to_string(top_p));
  need(min_p >= 0 && min_p < 1, "min_p must be in [0, 1), got " + std::to_string(min_p));
  need(repetition_penalty > 0 && std::isfinite(repetition_penalty),
       "repetition_penalty must be > 0, got " + std::to_string(repetition_penalty));
  need(std::isfinite(presence_penalty), "presence_penalty must be finite");
}

namespace {

struct Candidate {
  int32_t id;
  float p;
};

// Descending probability, ties by id: a total order, so the same logits always give the same list.
bool before(const Candidate& a, const Candidate& b) { return a.p > b.p || (a.p == b.p && a.id < b.id); }

// Sorts the prefix of `c` (descending) until it holds `mass` of the probability: the top-p
// nucleus without sorting the whole vocabulary (a few hundred tokens usually suffice). Returns the
// nucleus size.
size_t nucleus(std::vector<Candidate>& c, double mass) {
  size_t sorted = 0, want = std::min<size_t>(256, c.size());
  double acc = 0;
  for (;;) {
    if (want < c.size()) std::nth_element(c.begin() + static_cast<long>(sorted), c.begin() + static_cast<long>(want), c.end(), before);
    std::sort(c.begin() + static_cast<long>(sorted), c.begin() + static_cast<long>(want), before);
    for (; sorted < want; ++sorted) {
      acc += c[sorted].p;
      if (acc >= mass) return sorted + 1;
    }
    if (want == c.size()) return c.size();  // rounding: the whole list
    want = std::min(c.size(), want * 4);
  }
}

}  // namespace

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
  if (p.greedy || p.temperature == 0.0f) return static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());

  // Probabilities at the temperature over the whole vocabulary (vectorised softmax); the filters
  // below renormalise over what they keep.
  kernels::scale(l.data(), static_cast<int64_t>(V), 1.0f / p.temperature);
  kernels::softmax_forward(l.data(), 1, static_cast<int64_t>(V), l.data());
  std::vector<Candidate> c(V);
  for (size_t i = 0; i < V; ++i) c[i] = {static_cast<int32_t>(i), l[i]};
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < V) {
    const auto k = static_cast<long>(p.top_k);
    std::nth_element(c.begin(), c.begin() + k, c.end(), before);
    c.resize(static_cast<size_t>(k));
  }
  double total = 0;
  for (const Candidate& x : c) total += x.p;
  if (p.top_p < 1.0f) c.resize(nucleus(c, p.top_p * total));  // the most probable prefix holding top_p of the mass
  if (p.min_p > 0.0f) {  // keep p >= min_p * p_max
    float pmax = 0;
    for (const Candidate& x : c) pmax = std::max(pmax, x.p);
    const float floor = p.min_p * pmax;
    c.erase(std::remove_if(c.begin(), c.end(), [&](const Candidate& x) { return x.p < floor; }), c.end());
  }
  total = 0;
  for (const Candidate& x : c) total += x.p;
  double u = static_cast<double>(rng.uniform()) * total;
  for (const Candidate& x : c) {
    u -= x.p;
    if (u < 0) return x.id;
  }
  return c.back().id;
}

}  // namespace cornerstone::infer

#include "cornerstone/adapt/ppo.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "cornerstone/autograd/graph.h"
#include "cornerstone/core/error.h"

namespace cornerstone::adapt {

namespace {

// The (N) float vectors of a loss's inputs, checked to be one shape.
std::vector<std::vector<float>> vectors(const char* op, std::initializer_list<const Tensor*> ts) {
  std::vector<std::vector<float>> out;
  const Tensor& first = **ts.begin();
  for (const Tensor* t : ts) {
    if (t->ndim() != 1 || t->shape() != first.shape() || t->numel() == 0)
      throw ShapeError(std::string(op) + ": the inputs must be non-empty vectors of one shape, got " + first.shape().str() + " and " +
                       t->shape().str());
    out.push_back(t->contiguous().to_vector());
  }
  return out;
}

// The mean of per-token losses whose gradients with respect to x are `d` (N), recorded as one
// node (the other inputs are constants: the rollout's old log-probabilities, advantages, ...).
Tensor mean_loss(const char* op, double sum, std::vector<float> d, const Tensor& x) {
  const int64_t N = static_cast<int64_t>(d.size());
  Tensor out = Tensor::full({1}, static_cast<float>(sum / static_cast<double>(N)));
  if (autograd::needs_grad({x}))
    autograd::record(op, {x}, out, [d = std::move(d), N](const Tensor& g, autograd::GradSink& sink) {
      if (!sink.needs(0)) return;
      auto buf = sink.buffer(0);
      const float s = g.item() / static_cast<float>(N);
      for (int64_t i = 0; i < N; ++i) buf.data()[i] = (buf.fresh ? 0.0f : buf.data()[i]) + d[static_cast<size_t>(i)] * s;
    });
  return out;
}

// The share of max(a, b)'s gradient that goes to `a`: all of it when a > b, none when a < b, half
// on a tie (PyTorch's maximum).
float share_of_max(float a, float b) { return a > b ? 1.0f : a < b ? 0.0f : 0.5f; }

}  // namespace

nlohmann::json PpoOptions::to_json() const {
  return {{"epochs", epochs}, {"clip", clip}, {"clip_value", clip_value}, {"vf_coef", vf_coef}, {"gamma", gamma}, {"lambda", lambda}};
}

PpoOptions PpoOptions::from_json(const nlohmann::json& j, const std::string& where) {
  PpoOptions o;
  try {
    o.epochs = j.at("epochs").get<int64_t>();
    o.clip = j.at("clip").get<float>();
    o.clip_value = j.at("clip_value").get<float>();
    o.vf_coef = j.at("vf_coef").get<float>();
    o.gamma = j.at("gamma").get<float>();
    o.lambda = j.at("lambda").get<float>();
    o.validate();
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(where + ": " + e.what());
  } catch (const ValueError& e) {
    throw FormatError(where + ": " + e.what());
  }
  return o;
}

void PpoOptions::validate() const {
  if (epochs < 1 || epochs > 64) throw ValueError("--ppo-epochs must be in [1, 64], got " + std::to_string(epochs));
  if (!(clip > 0)) throw ValueError("--cliprange must be positive");
  if (!(clip_value > 0)) throw ValueError("--cliprange-value must be positive");
  if (!(vf_coef >= 0)) throw ValueError("--vf-coef must be >= 0");
  if (!(gamma > 0 && gamma <= 1)) throw ValueError("--gamma must be in (0, 1]");
  if (!(lambda >= 0 && lambda <= 1)) throw ValueError("--lam must be in [0, 1]");
}

std::vector<float> ppo_token_rewards(const std::vector<float>& logp, const std::vector<float>& ref_logp, float score, float kl) {
  if (logp.size() != ref_logp.size() || logp.empty())
    throw ShapeError("ppo_token_rewards: " + std::to_string(logp.size()) + " policy and " + std::to_string(ref_logp.size()) +
                     " reference log-probabilities (one per completion token, at least one)");
  std::vector<float> r(logp.size());
  for (size_t t = 0; t < r.size(); ++t) r[t] = -kl * (logp[t] - ref_logp[t]);
  r.back() += score;
  return r;
}

Advantages generalized_advantages(const std::vector<float>& rewards, const std::vector<float>& values, float gamma, float lambda) {
  if (rewards.size() != values.size())
    throw ShapeError("generalized_advantages: " + std::to_string(rewards.size()) + " rewards but " + std::to_string(values.size()) + " values");
  Advantages a{std::vector<float>(rewards.size()), std::vector<float>(rewards.size())};
  float next_advantage = 0;
  for (size_t k = rewards.size(); k-- > 0;) {
    const float next_value = k + 1 < values.size() ? values[k + 1] : 0.0f;
    const float delta = rewards[k] + gamma * next_value - values[k];
    next_advantage = delta + gamma * lambda * next_advantage;
    a.advantages[k] = next_advantage;
    a.returns[k] = next_advantage + values[k];
  }
  return a;
}

std::vector<float> whiten(const std::vector<float>& x) {
  const size_t n = x.size();
  double mean = 0;
  for (float v : x) mean += v;
  mean /= static_cast<double>(std::max<size_t>(n, 1));
  double var = 0;
  for (float v : x) var += (v - mean) * (v - mean);
  var = n > 1 ? var / static_cast<double>(n - 1) : 0.0;  // unbiased, as TRL's masked_var
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>((x[i] - mean) / std::sqrt(var + 1e-8));
  return out;
}

Tensor ppo_policy_loss(const Tensor& logp, const Tensor& old_logp, const Tensor& advantages, float clip) {
  if (!(clip > 0)) throw ValueError("ppo: the clip range must be positive");
  const auto v = vectors("ppo_policy_loss", {&logp, &old_logp, &advantages});
  const std::vector<float>&lp = v[0], &old = v[1], &adv = v[2];
  std::vector<float> d(lp.size());
  double sum = 0;
  for (size_t i = 0; i < lp.size(); ++i) {
    const float ratio = std::exp(lp[i] - old[i]), clipped = std::clamp(ratio, 1.0f - clip, 1.0f + clip);
    const float plain = -adv[i] * ratio, limited = -adv[i] * clipped;
    sum += std::max(plain, limited);
    // d ratio / d logp = ratio; the clipped ratio passes it only inside [1 - clip, 1 + clip].
    const bool inside = ratio >= 1.0f - clip && ratio <= 1.0f + clip;
    const float w = share_of_max(plain, limited);
    d[i] = -adv[i] * ratio * (w + (1.0f - w) * (inside ? 1.0f : 0.0f));
  }
  return mean_loss("ppo_policy_loss", sum, std::move(d), logp);
}

Tensor ppo_value_loss(const Tensor& values, const Tensor& old_values, const Tensor& returns, float clip_value) {
  if (!(clip_value > 0)) throw ValueError("ppo: the value clip range must be positive");
  const auto v = vectors("ppo_value_loss", {&values, &old_values, &returns});
  const std::vector<float>&val = v[0], &old = v[1], &ret = v[2];
  std::vector<float> d(val.size());
  double sum = 0;
  for (size_t i = 0; i < val.size(); ++i) {
    const float step = val[i] - old[i], clipped = old[i] + std::clamp(step, -clip_value, clip_value);
    const float plain = (val[i] - ret[i]) * (val[i] - ret[i]), limited = (clipped - ret[i]) * (clipped - ret[i]);
    sum += 0.5 * std::max(plain, limited);
    const bool inside = step >= -clip_value && step <= clip_value;
    const float w = share_of_max(plain, limited);
    d[i] = 0.5f * (w * 2.0f * (val[i] - ret[i]) + (1.0f - w) * (inside ? 2.0f * (clipped - ret[i]) : 0.0f));
  }
  return mean_loss("ppo_value_loss", sum, std::move(d), values);
}

}  // namespace cornerstone::adapt

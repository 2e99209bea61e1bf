// ppo: proximal policy optimisation of a decoder with a value head (adapt/ppo.h) on {"prompt",
// "answer"} problems, rewarded as grpo is (a verifiable reward or a reward model); validation and
// `evaluate`: the exact-match accuracy of greedy answers.
//
// A batch's first step samples its rollout: G completions per prompt from the policy, their
// scores, and from the policy's own forward pass (the one that also trains this step) the old
// log-probabilities and values of every completion token; the reference's log-probabilities
// give the per-token KL penalty; GAE gives advantages (whitened over the micro-batch's tokens) and
// returns. The batch's next epochs - 1 steps train on the same rollout. Dropout is off in every
// pass, so the first step's ratio is exactly 1. A checkpoint carries the rollout in use
// (ppo_rollout.json): a run resumed in the middle of a batch trains on what the straight run did.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <mutex>

#include "cornerstone/adapt/ppo.h"
#include "cornerstone/adapt/task_batches.h"
#include "cornerstone/adapt/task_model.h"
#include "cornerstone/adapt/task_type.h"
#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/ops/elementwise.h"
#include "cornerstone/ops/linear.h"
#include "cornerstone/ops/loss.h"
#include "rollout.h"

namespace cornerstone::adapt {

namespace {

namespace fs = std::filesystem;

constexpr const char* kStateFile = "ppo_rollout.json";

// One micro-batch's rollout: its rows and, per row, one value per completion token.
struct Rollout {
  Tensor ids, targets;  // (rows, T) i32
  std::vector<int64_t> first, counts;
  std::vector<std::vector<float>> old_logp, old_values, advantages, returns;
  double reward = 0, kl = 0, completion_tokens = 0;  // means over the rows, logged by every step of the batch

  nlohmann::json to_json() const {
    return {{"shape", {ids.size(0), ids.size(1)}},
            {"ids", ids.to_int_vector()},
            {"targets", targets.to_int_vector()},
            {"first", first},
            {"counts", counts},
            {"old_logp", old_logp},
            {"old_values", old_values},
            {"advantages", advantages},
            {"returns", returns},
            {"reward", reward},
            {"kl", kl},
            {"completion_tokens", completion_tokens}};
  }
  static Rollout from_json(const nlohmann::json& j) {
    Rollout r;
    const auto shape = j.at("shape").get<std::vector<int64_t>>();
    const auto ids = j.at("ids").get<std::vector<int32_t>>(), targets = j.at("targets").get<std::vector<int32_t>>();
    if (shape.size() != 2 || shape[0] < 1 || shape[1] < 1 || ids.size() != static_cast<size_t>(shape[0] * shape[1]) ||
        targets.size() != ids.size())
      throw ValueError("rows do not match their shape");
    r.ids = Tensor::from_data({shape[0], shape[1]}, ids), r.targets = Tensor::from_data({shape[0], shape[1]}, targets);
    j.at("first").get_to(r.first), j.at("counts").get_to(r.counts), j.at("old_logp").get_to(r.old_logp);
    j.at("old_values").get_to(r.old_values), j.at("advantages").get_to(r.advantages), j.at("returns").get_to(r.returns);
    j.at("reward").get_to(r.reward), j.at("kl").get_to(r.kl), j.at("completion_tokens").get_to(r.completion_tokens);
    const size_t n = static_cast<size_t>(shape[0]);
    if (r.first.size() != n || r.counts.size() != n || r.old_logp.size() != n || r.old_values.size() != n || r.advantages.size() != n ||
        r.returns.size() != n)
      throw ValueError("inconsistent sizes");
    for (size_t i = 0; i < n; ++i)
      if (r.first[i] < 0 || r.counts[i] < 0 || r.first[i] + r.counts[i] > shape[1] ||
          r.old_logp[i].size() != static_cast<size_t>(r.counts[i]) || r.old_values[i].size() != r.old_logp[i].size() ||
          r.advantages[i].size() != r.old_logp[i].size() || r.returns[i].size() != r.old_logp[i].size())
        throw ValueError("row " + std::to_string(i) + " has inconsistent sizes");
    return r;
  }
};

// Each row's completion under `model`: the final states that predict its tokens (counts[i], C) and
// the tokens' log-probabilities (counts[i]); undefined for a row without tokens. No dropout: the
// first step's ratio to the rollout is exactly 1.
struct CompletionPass {
  std::vector<Tensor> states, logp;
};

CompletionPass completion_pass(const models::GPT& model, const Tensor& ids, const Tensor& targets, const std::vector<int64_t>& first,
                               const std::vector<int64_t>& counts) {
  const Tensor hidden = model.hidden(ids, 0, nullptr);  // (N, T, C)
  CompletionPass p;
  p.states.resize(counts.size()), p.logp.resize(counts.size());
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] == 0) continue;
    const auto r = static_cast<int64_t>(i);
    p.states[i] = hidden.select(0, r).slice(0, first[i], first[i] + counts[i]);
    const Tensor t = targets.select(0, r).slice(0, first[i], first[i] + counts[i]).contiguous();
    p.logp[i] = ops::scale(ops::token_cross_entropy(ops::linear(p.states[i], model.lm_head_weight()), t), -1.0f);
  }
  return p;
}

// The policy's per-token log-probabilities and values of each row's completion, with gradients.
struct PolicyPass {
  std::vector<Tensor> logp, values;  // per row: (counts[i]); undefined for a row without tokens
};

PolicyPass policy_pass(const TaskModel& m, const Tensor& ids, const Tensor& targets, const std::vector<int64_t>& first,
                       const std::vector<int64_t>& counts) {
  CompletionPass c = completion_pass(decoder(m), ids, targets, first, counts);
  PolicyPass p{std::move(c.logp), std::vector<Tensor>(counts.size())};
  for (size_t i = 0; i < counts.size(); ++i)
    if (counts[i] > 0) p.values[i] = m.value_head()->values(c.states[i]);
  return p;
}

// The reference's per-token log-probabilities of the same tokens, without gradients.
std::vector<std::vector<float>> reference_logp(const TaskModel& m, const models::GPT* ref, const Tensor& ids, const Tensor& targets,
                                               const std::vector<int64_t>& first, const std::vector<int64_t>& counts) {
  autograd::NoGradGuard no_grad;
  const rollout::AdaptersOff off(m);  // under LoRA the reference is the base
  const CompletionPass c = completion_pass(ref ? *ref : decoder(m), ids, targets, first, counts);
  std::vector<std::vector<float>> out(counts.size());
  for (size_t i = 0; i < counts.size(); ++i)
    if (counts[i] > 0) out[i] = c.logp[i].to_vector();
  return out;
}

std::vector<float> values_of(const Tensor& t) { return t.detach().contiguous().to_vector(); }

class PpoTask : public TaskType {
 public:
  TaskInfo info() const override {
    return {Task::PPO, "ppo", "reinforcement learning with a value head (PPO, GAE) from a verifiable reward or a reward model", true, false, 0,
            "CAUSAL_LM"};
  }

  std::vector<Encoded> read(const TaskModel& m, const std::string& path, bool) const override { return rollout::read_problems(m, path); }

  // The reference (a frozen copy of the starting model, or the base with its adapters off under
  // LoRA) and the reward model, loaded once.
  void prepare(const TaskModel& m, std::vector<Encoded>&, int64_t) const override { resources_.prepare(m, "ppo"); }

  int64_t updates_per_batch(const TaskModel& m) const override { return m.spec().ppo.epochs; }

  Tensor loss(const TaskModel& m, const BatchTensors& b, Rng* rng, StepLog* log) const override {
    const PpoOptions& o = m.spec().ppo;
    const auto key = std::make_pair(b.batch_number, b.micro);
    PolicyPass pass;
    double sample_s = 0;
    Rollout* r = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto& cache = rollouts_[&m];
      if (b.update == 0) {
        for (auto it = cache.begin(); it != cache.end();)  // earlier batches' rollouts are done
          it = it->first.first < b.batch_number ? cache.erase(it) : std::next(it);
      } else if (const auto it = cache.find(key); it != cache.end()) {
        r = &it->second;
      } else {
        throw ValueError("ppo: step " + std::to_string(b.update + 1) + " of batch " + std::to_string(b.batch_number) +
                         " has no rollout to train on (a checkpoint without " + kStateFile + "?)");
      }
    }
    if (!r) {
      Rollout fresh = sample_rollout(m, b, rng ? rng->next_u64() : 0, &pass, &sample_s);
      std::lock_guard<std::mutex> lock(mutex_);
      r = &(rollouts_[&m][key] = std::move(fresh));
    } else {
      pass = policy_pass(m, r->ids, r->targets, r->first, r->counts);
    }

    // The clipped policy and value losses, a mean over every completion token of the micro-batch.
    int64_t tokens = 0;
    for (int64_t c : r->counts) tokens += c;
    Tensor loss;
    double policy_sum = 0, value_sum = 0, clipped = 0;
    for (size_t i = 0; i < r->counts.size(); ++i) {
      const int64_t n = r->counts[i];
      if (n == 0) continue;
      const Tensor old_logp = Tensor::from_data({n}, r->old_logp[i]);
      const Tensor pl = ppo_policy_loss(pass.logp[i], old_logp, Tensor::from_data({n}, r->advantages[i]), o.clip);
      const Tensor vl = ppo_value_loss(pass.values[i], Tensor::from_data({n}, r->old_values[i]), Tensor::from_data({n}, r->returns[i]),
                                       o.clip_value);
      const float w = static_cast<float>(n) / static_cast<float>(tokens);
      const Tensor row = ops::scale(ops::add(pl, ops::scale(vl, o.vf_coef)), w);
      loss = loss.defined() ? ops::add(loss, row) : row;
      policy_sum += static_cast<double>(pl.item()) * static_cast<double>(n);
      value_sum += static_cast<double>(vl.item()) * static_cast<double>(n);
      const std::vector<float> lp = values_of(pass.logp[i]);
      for (int64_t k = 0; k < n; ++k) {
        const float ratio = std::exp(lp[static_cast<size_t>(k)] - r->old_logp[i][static_cast<size_t>(k)]);
        clipped += ratio < 1.0f - o.clip || ratio > 1.0f + o.clip;
      }
    }
    if (!loss.defined()) throw ValueError("ppo: a batch whose completions have no tokens");
    if (log) {
      const int64_t rows = r->ids.size(0);
      log->mean("ppo/reward", r->reward, rows);
      log->mean("ppo/kl", r->kl, rows);
      log->mean("ppo/completion_tokens", r->completion_tokens, rows);
      log->mean("ppo/policy_loss", policy_sum / static_cast<double>(tokens), tokens);
      log->mean("ppo/value_loss", value_sum / static_cast<double>(tokens), tokens);
      log->mean("ppo/clipfrac", clipped / static_cast<double>(tokens), tokens);
      log->total("ppo/sample_s", sample_s);
    }
    return loss;
  }

  TaskReport evaluate(const TaskModel& m, const EvalSet& set, int64_t batch) const override {
    return rollout::evaluate_exact_match(m, set, batch);
  }

  void save_state(const TaskModel& m, const std::string& dir) const override {
    nlohmann::json j = nlohmann::json::array();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto it = rollouts_.find(&m);
      if (it != rollouts_.end())
        for (const auto& [key, r] : it->second) {
          nlohmann::json e = r.to_json();
          e["batch"] = key.first, e["micro"] = key.second;
          j.push_back(std::move(e));
        }
    }
    io::write_file_atomic((fs::path(dir) / kStateFile).string(), nlohmann::json{{"rollouts", j}}.dump() + "\n");
  }

  void load_state(const TaskModel& m, const std::string& dir) const override {
    const std::string path = (fs::path(dir) / kStateFile).string();
    if (!fs::exists(path)) return;  // a checkpoint between batches needs none; one inside a batch fails at its next step
    std::map<std::pair<int64_t, int64_t>, Rollout> loaded;
    try {
      const nlohmann::json j = nlohmann::json::parse(io::read_file(path));
      for (const auto& e : j.at("rollouts")) loaded[{e.at("batch").get<int64_t>(), e.at("micro").get<int64_t>()}] = Rollout::from_json(e);
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(path + ": " + e.what());
    } catch (const ValueError& e) {
      throw FormatError(path + ": " + e.what());
    }
    std::lock_guard<std::mutex> lock(mutex_);
    rollouts_[&m] = std::move(loaded);
  }

 private:
  // Samples the batch's completions and makes its rollout; `pass` gets the policy's forward pass
  // (with gradients: this step trains on it too).
  Rollout sample_rollout(const TaskModel& m, const BatchTensors& b, uint64_t seed, PolicyPass* pass, double* sample_s) const {
    const GrpoOptions& g = m.spec().grpo;
    const PpoOptions& o = m.spec().ppo;
    const rollout::Samples s = rollout::sample(m, b, g.group, seed, resources_, "ppo");
    *sample_s = s.seconds;
    Rollout r;
    r.ids = s.ids, r.targets = s.targets;
    r.first = s.first, r.counts = s.counts;
    *pass = policy_pass(m, s.ids, s.targets, s.first, s.counts);
    const std::vector<std::vector<float>> ref = reference_logp(m, resources_.reference(m, "ppo"), s.ids, s.targets, s.first, s.counts);
    std::vector<float> all_advantages;
    for (size_t i = 0; i < s.counts.size(); ++i) {
      r.reward += s.rewards[i];
      r.completion_tokens += static_cast<double>(s.generations[i].tokens.size());
      if (s.counts[i] == 0) {
        r.old_logp.emplace_back(), r.old_values.emplace_back(), r.advantages.emplace_back(), r.returns.emplace_back();
        continue;
      }
      std::vector<float> lp = values_of(pass->logp[i]), v = values_of(pass->values[i]);
      for (size_t k = 0; k < lp.size(); ++k) r.kl += lp[k] - ref[i][k];
      const Advantages a = generalized_advantages(ppo_token_rewards(lp, ref[i], s.rewards[i], g.kl), v, o.gamma, o.lambda);
      all_advantages.insert(all_advantages.end(), a.advantages.begin(), a.advantages.end());
      r.old_logp.push_back(std::move(lp)), r.old_values.push_back(std::move(v));
      r.advantages.push_back(a.advantages), r.returns.push_back(a.returns);
    }
    // Whitened over every token of the micro-batch (TRL whitens over its batch).
    const std::vector<float> white = whiten(all_advantages);
    size_t at = 0;
    for (auto& adv : r.advantages)
      for (float& x : adv) x = white[at++];
    const double n = static_cast<double>(r.ids.size(0));
    r.reward /= n, r.kl /= n, r.completion_tokens /= n;
    return r;
  }

  mutable rollout::Resources resources_;
  mutable std::mutex mutex_;
  mutable std::map<const TaskModel*, std::map<std::pair<int64_t, int64_t>, Rollout>> rollouts_;
};

}  // namespace

CORNERSTONE_TASK(PpoTask)

}  // namespace cornerstone::adapt

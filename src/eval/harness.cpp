#include "cornerstone/eval/harness.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <set>

#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/data/arithmetic.h"
#include "cornerstone/data/batch.h"
#include "cornerstone/data/jsonl.h"

namespace cornerstone::eval {

namespace {

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// The built-in arithmetic problems: fixed seeds, so every run scores the same documents.
std::vector<data::ArithmeticProblem> builtin_problems() {
  data::ArithmeticOptions o;
  o.min_digits = 1, o.max_digits = 3, o.count = 200, o.seed = 20261206;
  return data::make_arithmetic_problems(o);
}

HarnessTask builtin(const std::string& name) {
  HarnessTask t;
  t.name = name;
  uint64_t variant = 0;
  for (const auto& p : builtin_problems()) {
    HarnessDoc d;
    d.context = p.prompt();
    if (name == "arithmetic-choice") {
      t.kind = HarnessKind::MultipleChoice;
      // The answer and three distinct near misses, the answer at a position that varies.
      std::vector<std::string> c = {std::to_string(p.answer())};
      for (uint64_t v = variant; c.size() < 4; ++v) {
        const std::string w = std::to_string(p.wrong_answer(v));
        if (std::find(c.begin(), c.end(), w) == c.end()) c.push_back(w);
      }
      d.gold = static_cast<int64_t>(variant % 4);
      std::swap(c[0], c[static_cast<size_t>(d.gold)]);
      for (auto& x : c) x = std::string(data::kAnswerMarker) + " " + x;
      d.choices = std::move(c);
      variant += 7;
    } else {
      d.answer = std::to_string(p.answer());
      d.solution = name == "arithmetic-steps" ? p.steps() : p.direct();
    }
    t.docs.push_back(std::move(d));
  }
  return t;
}

// What a few-shot example shows after its prompt.
std::string shot_target(const HarnessTask& t, const HarnessDoc& d) {
  if (t.kind == HarnessKind::MultipleChoice) return d.choices[static_cast<size_t>(d.gold)];
  return d.solution.empty() ? d.answer : d.solution;
}

// log-softmax(logits)[target] over a row of V logits, in double.
double log_prob(const float* logits, int64_t V, int32_t target, bool* is_max) {
  float mx = logits[0];
  int64_t arg = 0;
  for (int64_t v = 1; v < V; ++v)
    if (logits[v] > mx) mx = logits[v], arg = v;
  double sum = 0;
  for (int64_t v = 0; v < V; ++v) sum += std::exp(static_cast<double>(logits[v]) - mx);
  *is_max = arg == target;
  return static_cast<double>(logits[target]) - mx - std::log(sum);
}

}  // namespace

HarnessTask read_harness_task(const std::string& path) {
  HarnessTask t;
  t.name = std::filesystem::path(path).stem().string();
  bool first = true;
  data::for_each_jsonl(path, [&](const nlohmann::json& j, const std::string& where, int64_t line) {
    const HarnessKind kind = j.contains("choices") ? HarnessKind::MultipleChoice : HarnessKind::Generation;
    if (first) t.kind = kind, first = false;
    if (kind != t.kind)
      throw FormatError(where + ": a " + (kind == HarnessKind::MultipleChoice ? "multiple-choice" : "generation") +
                        " document in a task whose first document is " + (kind == HarnessKind::MultipleChoice ? "generation" : "multiple choice"));
    HarnessDoc d;
    d.line = line;
    if (kind == HarnessKind::MultipleChoice) {
      d.context = data::jsonl_string(j, "context", where);
      d.choices = data::jsonl_string_list(j, "choices", where);
      if (d.choices.size() < 2) throw FormatError(where + ": \"choices\" needs at least 2 entries");
      if (!j.contains("gold")) throw FormatError(where + ": missing \"gold\"");
      if (!j["gold"].is_number_integer()) throw FormatError(where + ": \"gold\" must be an integer (the index of the right choice)");
      d.gold = j["gold"].get<int64_t>();
      if (d.gold < 0 || d.gold >= static_cast<int64_t>(d.choices.size()))
        throw FormatError(where + ": \"gold\" is " + std::to_string(d.gold) + ", outside the " + std::to_string(d.choices.size()) + " choices");
    } else {
      d.context = data::jsonl_string(j, "prompt", where);
      d.answer = trim(data::jsonl_string(j, "answer", where));
      if (d.answer.empty()) throw FormatError(where + ": \"answer\" is empty");
      if (j.contains("solution")) d.solution = data::jsonl_string(j, "solution", where);
    }
    t.docs.push_back(std::move(d));
  });
  if (t.docs.empty()) throw ValueError("task file '" + path + "' has no documents");
  return t;
}

std::vector<std::string> builtin_harness_tasks() { return {"arithmetic", "arithmetic-steps", "arithmetic-choice"}; }

HarnessTask harness_task(const std::string& s) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(s, ec)) return read_harness_task(s);
  const auto names = builtin_harness_tasks();
  if (std::find(names.begin(), names.end(), s) != names.end()) return builtin(s);
  std::string known;
  for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
  throw ValueError("--tasks: '" + s + "' is neither a task file nor a built-in task (" + known + ")");
}

std::string extract_answer(const std::string& text, const std::string& marker) {
  std::string s = text;
  const size_t at = marker.empty() ? std::string::npos : s.rfind(marker);
  if (at != std::string::npos) s = s.substr(at + marker.size());
  s = trim(s);
  s = trim(s.substr(0, s.find('\n')));
  if (!s.empty() && s.back() == '.') s.pop_back();
  return trim(s);
}

CausalLMHarnessModel::CausalLMHarnessModel(std::shared_ptr<models::PretrainedModel> model, tokenize::Tokenizer tokenizer,
                                           std::optional<tokenize::ChatTemplate> chat, int64_t batch)
    : model_(std::move(model)), tokenizer_(std::move(tokenizer)), chat_(std::move(chat)), batch_(std::max<int64_t>(1, batch)) {
  if (!model_ || !model_->as<models::CausalLM>())
    throw UnsupportedError("the task harness scores models that predict the next token (causal LMs)");
}

std::vector<LogLikelihood> CausalLMHarnessModel::loglikelihood(const std::vector<std::pair<std::string, std::string>>& requests) {
  autograd::NoGradGuard no_grad;
  model_->eval();
  const auto* lm = model_->as<models::CausalLM>();
  const int64_t max_len = model_->max_positions();
  std::vector<LogLikelihood> out(requests.size());
  for (size_t s = 0; s < requests.size(); s += static_cast<size_t>(batch_)) {
    const size_t e = std::min(requests.size(), s + static_cast<size_t>(batch_));
    std::vector<std::vector<int32_t>> rows;
    std::vector<size_t> first;  // the index in the row of the continuation's first token
    for (size_t r = s; r < e; ++r) {
      std::vector<int32_t> ctx = tokenizer_.encode(requests[r].first);
      const std::vector<int32_t> cont = tokenizer_.encode(requests[r].second);
      if (cont.empty()) throw ValueError("harness: an empty continuation has no likelihood to score");
      if (ctx.empty()) {  // the first token needs something before it: the end-of-text token, as a document start
        if (!tokenizer_.eos_id()) throw ValueError("harness: an empty context needs an end-of-text token to start from");
        ctx.push_back(*tokenizer_.eos_id());
      }
      if (static_cast<int64_t>(cont.size()) >= max_len)
        throw ValueError("harness: a continuation of " + std::to_string(cont.size()) + " tokens does not fit the model's context of " +
                         std::to_string(max_len));
      const size_t keep = std::min(ctx.size(), static_cast<size_t>(max_len) - cont.size());  // the context's last tokens
      std::vector<int32_t> row(ctx.end() - static_cast<std::ptrdiff_t>(keep), ctx.end());
      first.push_back(row.size());
      row.insert(row.end(), cont.begin(), cont.end());
      rows.push_back(std::move(row));
    }
    const int64_t B = static_cast<int64_t>(rows.size());
    int64_t T = 0;
    for (const auto& r : rows) T = std::max<int64_t>(T, static_cast<int64_t>(r.size()));
    std::vector<int32_t> ids(static_cast<size_t>(B * T), 0), lengths;
    for (int64_t b = 0; b < B; ++b) {
      std::copy(rows[static_cast<size_t>(b)].begin(), rows[static_cast<size_t>(b)].end(), ids.begin() + b * T);
      lengths.push_back(static_cast<int32_t>(rows[static_cast<size_t>(b)].size()));
    }
    data::Batch batch;
    batch.set(data::batch_keys::ids, Tensor::from_data({B, T}, ids)).set(data::batch_keys::lengths, Tensor::from_data({B}, lengths));
    const Tensor logits = lm->logits(model_->hidden_states(batch)).contiguous();  // (B, T, V)
    const int64_t V = logits.size(2);
    const float* l = logits.data<float>();
    for (int64_t b = 0; b < B; ++b) {
      const auto& row = rows[static_cast<size_t>(b)];
      LogLikelihood& r = out[s + static_cast<size_t>(b)];
      r.greedy = true;
      for (size_t i = first[static_cast<size_t>(b)]; i < row.size(); ++i) {  // token i predicted at position i - 1
        bool is_max = false;
        r.logprob += log_prob(l + (b * T + static_cast<int64_t>(i) - 1) * V, V, row[i], &is_max);
        r.greedy = r.greedy && is_max;
        ++r.tokens;
      }
    }
  }
  return out;
}

std::vector<std::string> CausalLMHarnessModel::generate(const std::vector<std::string>& prompts, const std::vector<std::string>& stop,
                                                        int64_t max_tokens) {
  if (!generator_) generator_ = std::make_unique<infer::Generator>(*model_, tokenizer_);
  infer::GenerateOptions o;
  o.max_tokens = max_tokens;
  o.sampling.greedy = true;
  o.stop = stop;
  if (chat_) {
    o.stop.insert(o.stop.end(), chat_->stop_strings.begin(), chat_->stop_strings.end());
    o.stop_tokens = chat_->stop_token_ids(tokenizer_);
  }
  std::vector<std::string> out;
  for (size_t s = 0; s < prompts.size(); s += static_cast<size_t>(batch_)) {  // a batch decodes together through one KV cache
    const std::vector<std::string> part(prompts.begin() + static_cast<std::ptrdiff_t>(s),
                                        prompts.begin() + static_cast<std::ptrdiff_t>(std::min(prompts.size(), s + static_cast<size_t>(batch_))));
    for (auto& g : generator_->generate(part, o)) out.push_back(std::move(g.text));
  }
  return out;
}

std::string continuation_prefix(const std::optional<tokenize::ChatTemplate>& chat) { return chat ? chat->reply_lead() : " "; }

std::string harness_prompt(const HarnessTask& t, size_t index, const HarnessOptions& o, const std::optional<tokenize::ChatTemplate>& chat) {
  const size_t n = t.docs.size();
  if (o.shots < 0 || static_cast<size_t>(o.shots) >= n)
    throw ValueError("task '" + t.name + "' has " + std::to_string(n) + " documents: too few for " + std::to_string(o.shots) +
                     "-shot prompts (each needs that many others)");
  Rng rng(o.seed + index);
  std::vector<size_t> shots;
  while (shots.size() < static_cast<size_t>(o.shots)) {
    const size_t k = static_cast<size_t>(rng.below(n));
    if (k != index && std::find(shots.begin(), shots.end(), k) == shots.end()) shots.push_back(k);
  }
  const HarnessDoc& d = t.docs[index];
  if (chat) {
    std::vector<tokenize::ChatMessage> m;
    for (size_t k : shots) m.push_back({"user", t.docs[k].context}), m.push_back({"assistant", shot_target(t, t.docs[k])});
    m.push_back({"user", d.context});
    return tokenize::render_chat(m, *chat, /*add_generation_prompt=*/true);
  }
  std::string p;
  for (size_t k : shots) p += t.docs[k].context + " " + shot_target(t, t.docs[k]) + "\n\n";
  return p + d.context;
}

HarnessResult run_harness_task(HarnessModel& model, const HarnessTask& t, const HarnessOptions& o) {
  const auto chat = model.chat_template();
  const size_t n = o.limit > 0 ? std::min(t.docs.size(), static_cast<size_t>(o.limit)) : t.docs.size();
  HarnessResult r;
  r.task = t.name;
  r.kind = t.kind;
  r.documents = static_cast<int64_t>(n);
  std::vector<std::string> prompts;
  for (size_t i = 0; i < n; ++i) prompts.push_back(harness_prompt(t, i, o, chat));
  if (t.kind == HarnessKind::MultipleChoice) {
    const std::string lead = continuation_prefix(chat);
    std::vector<std::pair<std::string, std::string>> requests;
    for (size_t i = 0; i < n; ++i)
      for (const auto& c : t.docs[i].choices) requests.emplace_back(prompts[i], lead + c);
    const auto ll = model.loglikelihood(requests);
    size_t k = 0;
    int64_t right = 0, right_norm = 0;
    for (size_t i = 0; i < n; ++i) {
      const auto& choices = t.docs[i].choices;
      double best = -std::numeric_limits<double>::infinity(), best_norm = best;
      int64_t arg = 0, arg_norm = 0;
      for (size_t c = 0; c < choices.size(); ++c, ++k) {
        const double norm = ll[k].logprob / static_cast<double>(std::max<size_t>(1, choices[c].size()));
        if (ll[k].logprob > best) best = ll[k].logprob, arg = static_cast<int64_t>(c);
        if (norm > best_norm) best_norm = norm, arg_norm = static_cast<int64_t>(c);
      }
      right += arg == t.docs[i].gold;
      right_norm += arg_norm == t.docs[i].gold;
    }
    r.acc = n ? static_cast<double>(right) / static_cast<double>(n) : 0;
    r.acc_norm = n ? static_cast<double>(right_norm) / static_cast<double>(n) : 0;
  } else {
    const auto texts = model.generate(prompts, {"\n\n"}, o.max_new_tokens);
    int64_t right = 0;
    for (size_t i = 0; i < n; ++i) right += extract_answer(texts[i], o.marker) == t.docs[i].answer;
    r.exact_match = n ? static_cast<double>(right) / static_cast<double>(n) : 0;
  }
  return r;
}

nlohmann::json HarnessResult::to_json() const {
  nlohmann::json j = {{"task", task}, {"kind", kind == HarnessKind::MultipleChoice ? "multiple_choice" : "generation"}, {"documents", documents}};
  if (kind == HarnessKind::MultipleChoice) {
    j["acc"] = acc;
    j["acc_norm"] = acc_norm;
  } else {
    j["exact_match"] = exact_match;
  }
  return j;
}

nlohmann::json harness_json(const std::vector<HarnessResult>& results, const HarnessOptions& o) {
  nlohmann::json r = nlohmann::json::object();
  for (const auto& x : results) r[x.task] = x.to_json();
  return {{"results", r},
          {"config", {{"shots", o.shots}, {"seed", o.seed}, {"limit", o.limit}, {"max_new_tokens", o.max_new_tokens}, {"marker", o.marker}}}};
}

std::string harness_table(const std::vector<HarnessResult>& results) {
  std::string s = "task                           documents  metric        value\n";
  char line[160];
  for (const auto& r : results) {
    if (r.kind == HarnessKind::MultipleChoice) {
      std::snprintf(line, sizeof line, "%-30s %9lld  acc          %6.4f\n%-30s %9s  acc_norm     %6.4f\n", r.task.c_str(),
                    static_cast<long long>(r.documents), r.acc, "", "", r.acc_norm);
    } else {
      std::snprintf(line, sizeof line, "%-30s %9lld  exact_match  %6.4f\n", r.task.c_str(), static_cast<long long>(r.documents), r.exact_match);
    }
    s += line;
  }
  return s;
}

}  // namespace cornerstone::eval

#include "cornerstone/infer/scheduler.h"

#include <algorithm>
#include <cmath>
#include <span>

#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/infer/completion_text.h"
#include "cornerstone/infer/decoder_runner.h"
#include "cornerstone/infer/kv_cache.h"

namespace cornerstone::infer {

struct Scheduler::Request {
  Request(uint64_t id, std::vector<int32_t> prompt, const RequestOptions& o, EventCallback cb, const tokenize::Tokenizer& tok,
          int64_t max_len)
      : id(id), prompt(std::move(prompt)), options(o), on_event(std::move(cb)), text(tok, o.stop), rng(o.seed),
        history(this->prompt) {
    limit = std::min<int64_t>(max_len, static_cast<int64_t>(this->prompt.size()) + o.max_tokens);
  }
  uint64_t id;
  std::vector<int32_t> prompt;
  RequestOptions options;
  EventCallback on_event;
  CompletionText text;
  Rng rng;
  std::vector<int32_t> history;  // prompt and output, for the penalties
  int64_t limit;                 // positions this request may reach
  int64_t slot = -1;
  size_t prefilled = 0;          // prompt tokens in the cache
  int32_t next = -1;             // the sampled token not yet in the cache
  int64_t generated = 0;
  std::optional<JsonPrefix> json;                // json_object: the output so far, as a JSON prefix
  std::shared_ptr<const JsonConstraint> json_pieces;
  std::vector<int32_t> json_ends;                // the tokens that end it (allowed once the object is closed)
  std::vector<float> masked;                     // this step's logits with the mask (reused)
};

namespace {

// log-softmax of `row` at `token` and, when k > 0, the k most likely tokens (ties by id).
void logprobs_of(std::span<const float> row, int32_t token, int64_t k, SchedulerEvent& e) {
  float mx = row[0];
  for (float v : row) mx = std::max(mx, v);
  double sum = 0;
  for (float v : row) sum += std::exp(static_cast<double>(v - mx));
  const float lse = mx + static_cast<float>(std::log(sum));
  e.logprob = TokenLogprob{token, row[static_cast<size_t>(token)] - lse};
  if (k <= 0) return;
  std::vector<int32_t> ids(row.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
  k = std::min<int64_t>(k, static_cast<int64_t>(ids.size()));
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int32_t a, int32_t b) {
    return row[static_cast<size_t>(a)] > row[static_cast<size_t>(b)] || (row[static_cast<size_t>(a)] == row[static_cast<size_t>(b)] && a < b);
  });
  for (int64_t i = 0; i < k; ++i) e.top_logprobs.push_back({ids[static_cast<size_t>(i)], row[static_cast<size_t>(ids[static_cast<size_t>(i)])] - lse});
}

}  // namespace

Scheduler::Scheduler(InferenceWeights weights, tokenize::Tokenizer tokenizer, SchedulerOptions options, std::vector<LoRADeltas> loras)
    : weights_(std::move(weights)), tokenizer_(std::move(tokenizer)), options_(options), loras_(std::move(loras)) {
  for (const LoRADeltas& d : loras_) d.check(weights_);
  const int64_t context = weights_.config().context;
  if (options_.slots <= 0) throw ValueError("scheduler: slots must be positive, got " + std::to_string(options_.slots));
  if (options_.max_len < 0 || options_.max_len > context)
    throw ValueError("scheduler: max_len " + std::to_string(options_.max_len) + " is outside the model's context of " + std::to_string(context));
  if (options_.prefill_chunk <= 0) throw ValueError("scheduler: prefill_chunk must be positive");
  if (options_.max_queue < 0) throw ValueError("scheduler: max_queue must be >= 0");
  if (tokenizer_.vocab_size() > weights_.config().vocab_size)
    throw ValueError("tokenizer/model vocabulary mismatch: the tokenizer has " + std::to_string(tokenizer_.vocab_size()) +
                     " tokens, the model " + std::to_string(weights_.config().vocab_size));
  max_len_ = options_.max_len > 0 ? options_.max_len : context;
  running_.resize(static_cast<size_t>(options_.slots));
  stats_.slots = options_.slots;
  worker_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  worker_.join();
}

std::optional<uint64_t> Scheduler::submit(std::vector<int32_t> prompt, const RequestOptions& o, EventCallback on_event) {
  o.sampling.validate();
  if (o.max_tokens < 0) throw ValueError("max_tokens must be >= 0");
  if (o.lora < -1 || o.lora >= static_cast<int32_t>(loras_.size()))
    throw ValueError("LoRA adapter " + std::to_string(o.lora) + " does not exist (the scheduler has " + std::to_string(loras_.size()) + ")");
  if (prompt.empty()) throw ValueError("the prompt is empty (no tokens)");
  const int64_t V = weights_.config().vocab_size;
  for (int32_t t : prompt)
    if (t < 0 || t >= V) throw ValueError("token id " + std::to_string(t) + " is outside the vocabulary of " + std::to_string(V));
  if (static_cast<int64_t>(prompt.size()) >= max_len_)
    throw ShapeError("the prompt has " + std::to_string(prompt.size()) + " tokens; the context is " + std::to_string(max_len_) +
                     " (shorten the prompt)");
  std::shared_ptr<const JsonConstraint> pieces;
  if (o.json_object) {  // every token's text, once per scheduler (tens of ms over a 50k vocabulary)
    std::lock_guard<std::mutex> lock(json_mu_);
    if (!json_) json_ = std::make_shared<const JsonConstraint>(tokenizer_);
    pieces = json_;
  }
  std::lock_guard<std::mutex> lock(mu_);
  // Requests in the queue take the free slots at the next step: only those beyond them wait.
  const int64_t free_slots = std::count(running_.begin(), running_.end(), nullptr);
  if (stopping_ || static_cast<int64_t>(queue_.size()) >= options_.max_queue + free_slots) return std::nullopt;
  const uint64_t id = next_id_++;
  auto request = std::make_shared<Request>(id, std::move(prompt), o, std::move(on_event), tokenizer_, max_len_);
  if (pieces) {
    request->json.emplace(), request->json_pieces = std::move(pieces);
    request->json_ends = o.stop_tokens;
    if (o.stop_at_eos)
      if (const auto eos = tokenizer_.eos_id()) request->json_ends.push_back(*eos);
  }
  queue_.push_back(std::move(request));
  stats_.queued = static_cast<int64_t>(queue_.size());
  wake_.notify_all();
  return id;
}

void Scheduler::cancel(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_.push_back(id);
  wake_.notify_all();
}

void Scheduler::drain() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, [&] { return queue_.empty() && stats_.busy_slots == 0; });
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void Scheduler::loop() {
  KVCache cache(weights_.config(), options_.slots, max_len_);
  DecoderRunner runner(weights_);
  for (const LoRADeltas& d : loras_) runner.add_lora(d);  // shares the adapters' tensors
  const std::optional<int32_t> eos = tokenizer_.eos_id();
  std::vector<std::pair<std::shared_ptr<Request>, SchedulerEvent>> events;  // delivered outside the lock

  for (;;) {
    std::vector<std::shared_ptr<Request>> active;  // this step's requests, in slot order
    {
      std::unique_lock<std::mutex> lock(mu_);
      auto has_work = [&] {
        if (!queue_.empty() || !cancelled_.empty()) return true;
        return std::any_of(running_.begin(), running_.end(), [](const auto& r) { return r != nullptr; });
      };
      wake_.wait(lock, [&] { return stopping_ || has_work(); });
      for (uint64_t id : cancelled_) {
        for (auto& r : running_)
          if (r && r->id == id) r.reset(), ++stats_.cancelled;
        stats_.cancelled += static_cast<int64_t>(std::erase_if(queue_, [&](const auto& r) { return r->id == id; }));
      }
      cancelled_.clear();
      for (size_t s = 0; s < running_.size() && !queue_.empty(); ++s)
        if (!running_[s]) {
          running_[s] = std::move(queue_.front());
          queue_.pop_front();
          running_[s]->slot = static_cast<int64_t>(s);
          cache.clear(static_cast<int64_t>(s));
        }
      for (const auto& r : running_)
        if (r) active.push_back(r);
      stats_.queued = static_cast<int64_t>(queue_.size());
      stats_.busy_slots = static_cast<int64_t>(active.size());
      if (active.empty()) {
        idle_.notify_all();
        if (stopping_ && queue_.empty()) return;
        continue;
      }
    }

    // One step: a token for each decoding request, prompt chunks for the others within the budget.
    std::vector<SeqChunk> chunks;
    std::vector<std::shared_ptr<Request>> stepped;
    std::vector<bool> samples;  // whether the chunk's logits give the request's next token
    int64_t budget = options_.prefill_chunk, prompt_tokens = 0;
    for (const auto& r : active) {
      if (r->prefilled < r->prompt.size()) {
        if (budget == 0) continue;
        const size_t n = std::min<size_t>(r->prompt.size() - r->prefilled, static_cast<size_t>(budget));
        chunks.push_back({r->slot, std::span<const int32_t>(r->prompt).subspan(r->prefilled, n), r->options.lora});
        r->prefilled += n;
        budget -= static_cast<int64_t>(n);
        prompt_tokens += static_cast<int64_t>(n);
        samples.push_back(r->prefilled == r->prompt.size());
      } else {
        chunks.push_back({r->slot, std::span<const int32_t>(&r->next, 1), r->options.lora});
        samples.push_back(true);
      }
      stepped.push_back(r);
    }

    std::vector<std::shared_ptr<Request>> finished;
    try {
      const Tensor logits = runner.forward(cache, chunks);
      // A model's vocabulary may be padded past its tokenizer's: ids the tokenizer cannot decode
      // are never sampled.
      const int64_t stride = logits.size(1), V = std::min<int64_t>(stride, tokenizer_.vocab_size());
      for (size_t k = 0; k < stepped.size(); ++k) {
        Request& r = *stepped[k];
        if (!samples[k]) continue;
        const std::span<const float> row(logits.data<float>() + static_cast<int64_t>(k) * stride, static_cast<size_t>(V));
        SchedulerEvent e;
        e.prompt_tokens = static_cast<int64_t>(r.prompt.size());
        if (r.options.max_tokens == 0) {
          e.finished = true, e.finish_reason = "length";
        } else {
          const auto& st = r.options.stop_tokens;
          int32_t tok = -1;
          if (r.json) {  // only tokens that keep the output one JSON object; the end only once it is closed
            r.masked.assign(row.begin(), row.end());
            if (r.json_pieces->mask(r.masked, *r.json, r.json_ends) > 0) tok = sample_token(r.masked, r.options.sampling, r.history, r.rng);
          } else {
            tok = sample_token(row, r.options.sampling, r.history, r.rng);
          }
          if (tok < 0) {  // nothing can continue the object (e.g. a run of blanks at its limit)
            e.finished = true, e.finish_reason = "length";
          } else if (r.options.stop_at_eos && eos && tok == *eos) {
            e.finished = true, e.finish_reason = "eos";
          } else if (std::find(st.begin(), st.end(), tok) != st.end()) {
            e.finished = true, e.finish_reason = "stop";
          } else {
            e.token = tok;
            if (r.options.top_logprobs >= 0) logprobs_of(row, tok, r.options.top_logprobs, e);
            r.history.push_back(tok);
            r.next = tok;
            ++r.generated;
            const bool closed = r.json && r.json->push(r.json_pieces->piece(tok)) && r.json->complete();
            if (r.text.push(tok) || closed) {
              e.finished = true, e.finish_reason = "stop";
            } else if (r.generated >= r.options.max_tokens || cache.length(r.slot) + 1 >= r.limit) {
              e.finished = true, e.finish_reason = "length";
            }
          }
        }
        if (e.finished) {
          r.text.finish();
          finished.push_back(stepped[k]);
        }
        e.text = r.text.take();
        e.completion_tokens = r.generated;
        events.emplace_back(stepped[k], std::move(e));
      }
    } catch (const std::exception& ex) {  // nothing here should throw; if it does, fail this step's requests, not the server
      for (const auto& r : stepped) {
        SchedulerEvent e;
        e.finished = true, e.finish_reason = "error", e.error = ex.what();
        e.prompt_tokens = static_cast<int64_t>(r->prompt.size()), e.completion_tokens = r->generated;
        events.emplace_back(r, std::move(e));
        finished.push_back(r);
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.steps;
      stats_.prompt_tokens += prompt_tokens;
      for (const auto& [r, e] : events)
        if (e.token) ++stats_.generated_tokens;
      for (const auto& r : finished)
        if (running_[static_cast<size_t>(r->slot)] == r) running_[static_cast<size_t>(r->slot)].reset(), ++stats_.finished;
    }
    for (auto& [r, e] : events)
      if (r->on_event) r->on_event(e);
    events.clear();
    {
      // Wake drain() once the callbacks of the last finished requests have run.
      std::lock_guard<std::mutex> lock(mu_);
      stats_.busy_slots = std::count_if(running_.begin(), running_.end(), [](const auto& r) { return r != nullptr; });
      if (queue_.empty() && stats_.busy_slots == 0) idle_.notify_all();
    }
  }
}

}  // namespace cornerstone::infer

// Continuous batching: many requests share one decoder through a fixed number of KV-cache slots.
//
// A worker thread runs steps. Before each step, queued requests take the free slots; then one
// DecoderRunner::forward call advances every running request: a decoding request adds its last
// sampled token, a request still reading its prompt adds its next chunk of prompt tokens (at most
// `prefill_chunk` prompt tokens per step in all, so a long prompt does not stall the streams
// already decoding). A request that finishes (length, stop, eos) or is cancelled frees its slot
// for the next step.
//
//   Scheduler s(model.inference_weights(), model.tokenizer(), {.slots = 4});
//   auto id = s.submit(prompt_ids, options, [&](const SchedulerEvent& e) {
//     send(e.text);                       // newly certain text, on the scheduler's thread
//     if (e.finished) done(e.finish_reason);
//   });
//   if (!id) reply_busy();                // the queue is full
//
// A row's logits do not depend on the other rows of a step (infer/decoder_runner.h), so a greedy
// request gets the same tokens alone, in a batch, or from Generator::generate.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cornerstone/infer/inference_weights.h"
#include "cornerstone/infer/sampler.h"
#include "cornerstone/infer/json_constraint.h"
#include "cornerstone/infer/lora_deltas.h"
#include "cornerstone/tokenize/tokenizer.h"

namespace cornerstone::infer {

struct RequestOptions {
  int64_t max_tokens = 128;
  SamplingParams sampling;
  uint64_t seed = 0;
  std::vector<std::string> stop;     // stop strings (not part of the text)
  std::vector<int32_t> stop_tokens;  // token ids that end the request ("stop")
  bool stop_at_eos = true;           // the tokenizer's end of text ends it ("eos")
  int64_t top_logprobs = -1;         // >= 0: report the sampled token's log-probability and this many alternatives
  bool json_object = false;          // sample only tokens that keep the output one JSON object; end when it closes
  int32_t lora = -1;                 // the scheduler's LoRA adapter this request decodes with (-1: the base)
};

struct TokenLogprob {
  int32_t token;
  float logprob;  // log-softmax of the model's logits (before temperature and filters)
};

// One event per sampled token, and a last one with finished = true.
struct SchedulerEvent {
  std::string text;             // text that became certain (may be empty)
  std::optional<int32_t> token; // the sampled token, when it is part of the output
  std::optional<TokenLogprob> logprob;   // the sampled token's, when asked for
  std::vector<TokenLogprob> top_logprobs;
  bool finished = false;
  std::string finish_reason;    // "length", "stop", "eos"; "error" with `error` set
  std::string error;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;  // tokens of the output so far
};
using EventCallback = std::function<void(const SchedulerEvent&)>;

struct SchedulerOptions {
  int64_t slots = 4;            // requests decoded together
  int64_t max_len = 0;          // positions per slot, prompt included (0: the model's context)
  int64_t prefill_chunk = 256;  // prompt tokens processed per step, all requests together
  int64_t max_queue = 64;       // requests waiting for a busy slot; submit() refuses more
};

struct SchedulerStats {
  int64_t slots = 0, busy_slots = 0, queued = 0;
  int64_t steps = 0, prompt_tokens = 0, generated_tokens = 0;
  int64_t finished = 0, cancelled = 0;  // requests that ended, and that were dropped by cancel()
};

class Scheduler {
 public:
  // Starts the worker thread. Throws ValueError for a bad option or a tokenizer larger than the
  // model's vocabulary, ShapeError for an adapter that does not fit the weights. `loras`: adapters
  // of the weights (infer/lora_deltas.h) that requests pick by index (RequestOptions::lora) and
  // that decode in the same batches as the base.
  Scheduler(InferenceWeights weights, tokenize::Tokenizer tokenizer, SchedulerOptions options = {}, std::vector<LoRADeltas> loras = {});
  // Finishes every queued and running request, then stops the thread.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request; returns its id, or nullopt when the queue is full. `on_event` runs on the
  // worker thread (keep it short) and may still run once after cancel(); capture shared state by
  // value. Throws ValueError (empty prompt, a token outside the vocabulary, bad sampling values)
  // or ShapeError (the prompt leaves no room for a token within max_len).
  std::optional<uint64_t> submit(std::vector<int32_t> prompt, const RequestOptions& options, EventCallback on_event);
  // Drops a queued or running request (a client that went away); its slot is free for the next step.
  void cancel(uint64_t id);
  // Blocks until nothing is queued or running.
  void drain();

  SchedulerStats stats() const;
  int64_t max_len() const { return max_len_; }
  const tokenize::Tokenizer& tokenizer() const { return tokenizer_; }
  const InferenceWeights& weights() const { return weights_; }
  int32_t lora_count() const { return static_cast<int32_t>(loras_.size()); }

  struct Request;  // src/infer/scheduler.cpp

 private:
  void loop();

  InferenceWeights weights_;
  tokenize::Tokenizer tokenizer_;
  SchedulerOptions options_;
  std::vector<LoRADeltas> loras_;
  int64_t max_len_;

  mutable std::mutex mu_;
  std::condition_variable wake_, idle_;
  std::deque<std::shared_ptr<Request>> queue_;
  std::vector<std::shared_ptr<Request>> running_;  // by slot; null when free
  std::vector<uint64_t> cancelled_;
  uint64_t next_id_ = 1;
  bool stopping_ = false;
  std::mutex json_mu_;
  std::shared_ptr<const JsonConstraint> json_;  // every token's text, built by the first json_object request
  SchedulerStats stats_;
  std::thread worker_;
};

}  // namespace cornerstone::infer

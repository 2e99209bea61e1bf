// Continuous batching: a request gets the same tokens and text from the scheduler as from
// Generator::generate, alone or among others that join mid-stream, with long prompts read in
// chunks; stop strings, eos, cancellation, a full queue and bad requests.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cornerstone/core/error.h"
#include "cornerstone/infer/completion_text.h"
#include "cornerstone/infer/generator.h"
#include "cornerstone/infer/scheduler.h"
#include "cornerstone/models/gpt/gpt.h"
#include "cornerstone/tokenize/bpe_trainer.h"
#include "infer_test.h"

namespace cornerstone::testing {
namespace {

using infer::InferenceWeights;
using infer::RequestOptions;
using infer::Scheduler;
using infer::SchedulerEvent;
using infer::SchedulerOptions;

struct Fixture {
  tokenize::Tokenizer tok = small_tokenizer();
  models::DecoderConfig cfg = [&] {
    auto c = small_decoder(models::DecoderArch::Llama);
    c.vocab_size = tok.vocab_size(), c.context = 96;
    return c;
  }();
  models::GPT model{cfg, 5};
  InferenceWeights weights = InferenceWeights::from_model(model, kernels::WeightFormat::F32);
};

Fixture& fixture() {
  static Fixture* f = new Fixture();
  return *f;
}

// What a request received: the concatenated text, the tokens and the last event.
struct Received {
  std::string text;
  std::vector<int32_t> tokens;
  SchedulerEvent last;
  std::promise<void> done;
  std::shared_future<void> finished = done.get_future().share();
};

std::shared_ptr<Received> submit(Scheduler& s, const std::string& prompt, const RequestOptions& o) {
  auto r = std::make_shared<Received>();
  const auto id = s.submit(fixture().tok.encode(prompt), o, [r](const SchedulerEvent& e) {
    r->text += e.text;
    if (e.token) r->tokens.push_back(*e.token);
    if (e.finished) {
      r->last = e;
      r->done.set_value();
    }
  });
  EXPECT_TRUE(id.has_value());
  return r;
}

void wait(const std::shared_ptr<Received>& r) {
  ASSERT_EQ(r->finished.wait_for(std::chrono::seconds(60)), std::future_status::ready) << "request never finished";
}

RequestOptions greedy(int64_t n) {
  RequestOptions o;
  o.max_tokens = n;
  o.sampling.greedy = true;
  o.stop_at_eos = false;
  return o;
}

infer::GenerateOptions as_generate(const RequestOptions& r) {
  infer::GenerateOptions g;
  g.max_tokens = r.max_tokens, g.sampling = r.sampling, g.seed = r.seed, g.stop = r.stop, g.stop_tokens = r.stop_tokens;
  g.stop_at_eos = r.stop_at_eos;
  return g;
}

const std::vector<std::string> kPrompts = {
    "The state of the union",
    "We the people, in order to form a more perfect union, 12 times over; liberty and justice for all. The state",
    "liberty",
    "justice for all. We the people",
    "in order to form a more perfect union, 3 times over; liberty and justice for all. We the people, in order to form a "
    "more perfect union, 4 times over;",
};

TEST(Scheduler, GreedyRequestsMatchTheGeneratorAloneAndBatched) {
  Fixture& f = fixture();
  const infer::Generator gen(f.weights, f.tok);
  const RequestOptions o = greedy(24);
  std::vector<infer::Generation> expected;
  for (const auto& p : kPrompts) expected.push_back(gen.generate({p}, as_generate(o))[0]);

  // Alone: one slot, one request at a time. Batched: 3 slots for 5 requests, so two wait for a
  // slot and join mid-stream, and prompts are read 7 tokens per step (several chunks each).
  for (const SchedulerOptions so : {SchedulerOptions{.slots = 1, .max_len = 0, .prefill_chunk = 256, .max_queue = 8},
                                    SchedulerOptions{.slots = 3, .max_len = 0, .prefill_chunk = 7, .max_queue = 8}}) {
    Scheduler s(f.weights, f.tok, so);
    std::vector<std::shared_ptr<Received>> got;
    for (size_t i = 0; i < kPrompts.size(); ++i) {
      got.push_back(submit(s, kPrompts[i], o));
      if (so.slots == 1) wait(got.back());
    }
    for (size_t i = 0; i < kPrompts.size(); ++i) {
      wait(got[i]);
      EXPECT_EQ(got[i]->tokens, expected[i].tokens) << "prompt " << i << ", slots " << so.slots;
      EXPECT_EQ(got[i]->text, expected[i].text) << "prompt " << i;
      EXPECT_EQ(got[i]->last.finish_reason, expected[i].finish_reason) << "prompt " << i;
      EXPECT_EQ(got[i]->last.completion_tokens, static_cast<int64_t>(expected[i].tokens.size()));
      EXPECT_EQ(got[i]->last.prompt_tokens, static_cast<int64_t>(f.tok.encode(kPrompts[i]).size()));
    }
    EXPECT_GT(s.stats().generated_tokens, 0);
  }
}

TEST(Scheduler, SampledRequestsMatchTheGeneratorWithTheSameSeed) {
  Fixture& f = fixture();
  const infer::Generator gen(f.weights, f.tok);
  RequestOptions o;
  o.max_tokens = 20, o.seed = 42, o.sampling.temperature = 0.9f, o.sampling.top_k = 40, o.stop_at_eos = false;
  Scheduler s(f.weights, f.tok, {.slots = 2, .max_len = 0, .prefill_chunk = 5, .max_queue = 8});
  auto a = submit(s, kPrompts[0], o);
  auto b = submit(s, kPrompts[1], o);
  wait(a), wait(b);
  EXPECT_EQ(a->tokens, gen.generate({kPrompts[0]}, as_generate(o))[0].tokens);
  EXPECT_EQ(b->tokens, gen.generate({kPrompts[1]}, as_generate(o))[0].tokens);
}

TEST(Scheduler, StopStringsEndTheTextWhereTheGeneratorDoes) {
  Fixture& f = fixture();
  const infer::Generator gen(f.weights, f.tok);
  RequestOptions o = greedy(40);
  const std::string free_text = gen.generate({kPrompts[0]}, as_generate(o))[0].text;
  ASSERT_GE(free_text.size(), 6u) << free_text;
  o.stop = {free_text.substr(3, 3)};  // a stop string the greedy text contains
  Scheduler s(f.weights, f.tok, {.slots = 2, .max_len = 0, .prefill_chunk = 256, .max_queue = 8});
  auto r = submit(s, kPrompts[0], o);
  wait(r);
  const infer::Generation g = gen.generate({kPrompts[0]}, as_generate(o))[0];
  EXPECT_EQ(r->text, g.text);
  EXPECT_EQ(r->last.finish_reason, "stop");
  EXPECT_EQ(r->text.find(o.stop[0]), std::string::npos);
  EXPECT_LE(r->text.size(), 3u + free_text.find(o.stop[0]) - 3u);
}

TEST(Scheduler, ContextLimitEndsWithLength) {
  Fixture& f = fixture();
  Scheduler s(f.weights, f.tok, {.slots = 1, .max_len = 32, .prefill_chunk = 256, .max_queue = 8});
  auto r = submit(s, kPrompts[0], greedy(1000));
  wait(r);
  EXPECT_EQ(r->last.finish_reason, "length");
  EXPECT_EQ(r->last.prompt_tokens + r->last.completion_tokens, 32);
}

TEST(Scheduler, CancelFreesTheSlotAndFullQueueRefuses) {
  Fixture& f = fixture();
  Scheduler s(f.weights, f.tok, {.slots = 1, .max_len = 0, .prefill_chunk = 256, .max_queue = 1});
  // The first request's callback holds the worker (callbacks run on it) until the test lets go,
  // so the request surely occupies the only slot meanwhile.
  std::atomic<int> events{0};
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  const auto long_one = s.submit(f.tok.encode(kPrompts[0]), greedy(60), [&, released](const SchedulerEvent&) {
    if (events++ == 0) {
      entered.set_value();
      released.wait();
    }
  });
  ASSERT_TRUE(long_one);
  entered.get_future().wait();
  EXPECT_EQ(s.stats().busy_slots, 1);
  const auto waiting = s.submit(f.tok.encode(kPrompts[2]), greedy(3), [](const SchedulerEvent&) {});
  ASSERT_TRUE(waiting) << "one request may wait for the busy slot";
  EXPECT_FALSE(s.submit(f.tok.encode(kPrompts[2]), greedy(3), [](const SchedulerEvent&) {})) << "the queue holds 1";
  EXPECT_EQ(s.stats().queued, 1);
  s.cancel(*long_one);
  release.set_value();
  s.drain();
  EXPECT_LE(events.load(), 2) << "a cancelled request stops at the next step";
  const auto st = s.stats();
  EXPECT_EQ(st.busy_slots, 0);
  EXPECT_EQ(st.queued, 0);
}

TEST(Scheduler, LogprobsAreTheLogSoftmaxOfTheSampledToken) {
  Fixture& f = fixture();
  Scheduler s(f.weights, f.tok, {.slots = 1, .max_len = 0, .prefill_chunk = 256, .max_queue = 8});
  RequestOptions o = greedy(5);
  o.top_logprobs = 3;
  std::vector<SchedulerEvent> got;
  std::promise<void> done;
  s.submit(f.tok.encode(kPrompts[0]), o, [&](const SchedulerEvent& e) {
    got.push_back(e);
    if (e.finished) done.set_value();
  });
  done.get_future().wait();
  ASSERT_EQ(got.size(), 5u);
  for (const auto& e : got) {
    ASSERT_TRUE(e.logprob && e.token);
    ASSERT_EQ(e.top_logprobs.size(), 3u);
    EXPECT_EQ(e.top_logprobs[0].token, *e.token) << "greedy takes the most likely token";
    EXPECT_FLOAT_EQ(e.top_logprobs[0].logprob, e.logprob->logprob);
    EXPECT_LE(e.logprob->logprob, 0.0f);
    EXPECT_GE(e.top_logprobs[0].logprob, e.top_logprobs[1].logprob);
    EXPECT_GE(e.top_logprobs[1].logprob, e.top_logprobs[2].logprob);
  }
}

TEST(Scheduler, BadRequestsAreErrors) {
  Fixture& f = fixture();
  Scheduler s(f.weights, f.tok, {.slots = 1, .max_len = 16, .prefill_chunk = 256, .max_queue = 8});
  auto none = [](const SchedulerEvent&) {};
  EXPECT_THROW(s.submit({}, greedy(3), none), ValueError);
  EXPECT_THROW(s.submit({1, 100000}, greedy(3), none), ValueError);
  EXPECT_THROW(s.submit(std::vector<int32_t>(16, 1), greedy(3), none), ShapeError);
  RequestOptions bad = greedy(3);
  bad.sampling.greedy = false, bad.sampling.top_p = 2.0f;
  EXPECT_THROW(s.submit({1, 2}, bad, none), ValueError);
  bad = greedy(3);
  bad.stop = {""};
  EXPECT_THROW(s.submit({1, 2}, bad, none), ValueError);
  EXPECT_THROW(Scheduler(f.weights, f.tok, {.slots = 0}), ValueError);
  EXPECT_THROW(Scheduler(f.weights, f.tok, {.slots = 1, .max_len = 1000}), ValueError);
}

TEST(CompletionText, HoldsBackAPossibleStopStringAndCutsAtIt) {
  const auto& tok = fixture().tok;
  const std::vector<int32_t> ids = tok.encode(" the people, in order to form");
  infer::CompletionText t(tok, {"in ord"});
  std::string streamed;
  bool stopped = false;
  for (int32_t id : ids) {
    stopped = t.push(id);
    streamed += t.take();
    if (stopped) break;
  }
  t.finish();
  streamed += t.take();
  EXPECT_TRUE(stopped);
  EXPECT_EQ(streamed, " the people, ");
  EXPECT_EQ(t.text(), streamed);
}

}  // namespace
}  // namespace cornerstone::testing

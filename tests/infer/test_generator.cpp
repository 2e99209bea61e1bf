// Generation: streamed pieces add up to the final text, stop strings and stop tokens end a sequence
// exactly where they occur, greedy decoding gives the same tokens alone and inside a batch, and
// bad prompts or options are errors.
#include <gtest/gtest.h>

#include <future>

#include <string>
#include <vector>

#include "cornerstone/core/error.h"
#include "cornerstone/infer/generator.h"
#include "cornerstone/infer/scheduler.h"
#include "cornerstone/models/gpt/gpt.h"
#include "cornerstone/tokenize/bpe_trainer.h"
#include "infer_test.h"

namespace cornerstone::testing {
namespace {

using infer::GenerateOptions;
using infer::Generator;
using infer::InferenceWeights;
using kernels::WeightFormat;

struct Fixture {
  tokenize::Tokenizer tok = small_tokenizer();
  models::DecoderConfig cfg = [&] {
    auto c = small_decoder(models::DecoderArch::GPT2);
    c.vocab_size = tok.vocab_size(), c.context = 64;
    return c;
  }();
  models::GPT model{cfg, 11};
};

Fixture& fixture() {
  static Fixture* f = new Fixture();
  return *f;
}

GenerateOptions greedy(int64_t n) {
  GenerateOptions o;
  o.max_tokens = n;
  o.sampling.greedy = true;
  o.stop_at_eos = false;
  return o;
}

// A model whose vocabulary is padded past its tokenizer's (common in checkpoints: 50257 tokens,
// 50304 logits) used to sample ids the tokenizer could not decode, and failed mid-generation.
TEST(Generator, APaddedVocabularyNeverYieldsIdsTheTokenizerLacks) {
  Fixture& f = fixture();
  models::DecoderConfig cfg = f.cfg;
  cfg.vocab_size = f.tok.vocab_size() + 400;  // more padding than real tokens: random logits pick it often
  const models::GPT padded(cfg, 5);
  GenerateOptions o;
  o.max_tokens = 40;
  o.sampling.temperature = 2.0f;
  o.stop_at_eos = false;
  const auto out = Generator(padded, f.tok).generate({"The state", "We the people"}, o);
  for (const auto& g : out) {
    EXPECT_EQ(g.tokens.size(), 40u);
    for (int32_t t : g.tokens) EXPECT_LT(t, f.tok.vocab_size());
  }
  infer::Scheduler sched(InferenceWeights::from_model(padded, WeightFormat::F32), f.tok, {.slots = 2});
  std::promise<std::vector<int32_t>> done;
  std::vector<int32_t> tokens;
  infer::RequestOptions ro;
  ro.max_tokens = 40, ro.sampling.temperature = 2.0f, ro.stop_at_eos = false;
  ASSERT_TRUE(sched.submit(f.tok.encode("The state"), ro, [&](const infer::SchedulerEvent& e) {
    if (e.token) tokens.push_back(*e.token);
    if (e.finished) {
      EXPECT_EQ(e.finish_reason, "length") << e.error;
      done.set_value(tokens);
    }
  }));
  const auto got = done.get_future().get();
  EXPECT_EQ(got.size(), 40u);
  for (int32_t t : got) EXPECT_LT(t, f.tok.vocab_size());
}

TEST(Generator, StreamedPiecesAddUpToTheText) {
  Fixture& f = fixture();
  Generator gen(f.model, f.tok);
  for (bool sample : {false, true}) {
    GenerateOptions o = greedy(30);
    o.sampling.greedy = !sample, o.sampling.temperature = 1.2f, o.seed = 4;
    std::vector<std::string> streamed(2);
    const auto out = gen.generate({"The state", "We the"}, o, [&](size_t i, std::string_view piece) { streamed[i] += piece; });
    for (size_t i = 0; i < 2; ++i) {
      EXPECT_EQ(streamed[i], out[i].text);
      EXPECT_EQ(out[i].tokens.size(), 30u);
      EXPECT_EQ(out[i].finish_reason, "length");
      EXPECT_EQ(out[i].text, f.tok.decode(out[i].tokens, true));
    }
  }
}

TEST(Generator, GreedyTokensAreTheSameAloneAndInABatch) {
  Fixture& f = fixture();
  const std::vector<std::string> prompts = {"The state of the union", "We", "liberty and justice for all, in order to form"};
  for (WeightFormat fmt : {WeightFormat::F32, WeightFormat::BF16, WeightFormat::Q8_0, WeightFormat::Q4_0}) {
    SCOPED_TRACE(std::string(kernels::weight_format_name(fmt)));
    Generator gen(InferenceWeights::from_model(f.model, fmt), f.tok);
    const auto batch = gen.generate(prompts, greedy(25));
    for (size_t i = 0; i < prompts.size(); ++i) {
      const auto alone = gen.generate({prompts[i]}, greedy(25));
      EXPECT_EQ(alone[0].tokens, batch[i].tokens) << "prompt " << i;
    }
  }
}

TEST(Generator, StopStringsEndTheTextWhereTheyStart) {
  Fixture& f = fixture();
  Generator gen(f.model, f.tok);
  const auto full = gen.generate({"The state"}, greedy(40))[0];
  ASSERT_GT(full.text.size(), 12u);
  // A stop string taken from the middle of the greedy text (it may span several tokens).
  const std::string stop = full.text.substr(full.text.size() / 2, 3);
  const size_t at = full.text.find(stop);
  GenerateOptions o = greedy(40);
  o.stop = {"never appears \x01", stop};
  std::string streamed;
  const auto out = gen.generate({"The state"}, o, [&](size_t, std::string_view p) { streamed += p; })[0];
  EXPECT_EQ(out.text, full.text.substr(0, at));
  EXPECT_EQ(streamed, out.text) << "text held back for a possible stop string must not leak";
  EXPECT_EQ(out.finish_reason, "stop");
}

TEST(Generator, StopTokensEndTheSequence) {
  Fixture& f = fixture();
  Generator gen(f.model, f.tok);
  const auto full = gen.generate({"We the"}, greedy(30))[0];
  ASSERT_GE(full.tokens.size(), 10u);
  const int32_t stop = full.tokens[7];
  const size_t first = static_cast<size_t>(std::find(full.tokens.begin(), full.tokens.end(), stop) - full.tokens.begin());
  GenerateOptions o = greedy(30);
  o.stop_tokens = {stop};
  const auto out = gen.generate({"We the"}, o)[0];
  EXPECT_EQ(out.tokens, std::vector<int32_t>(full.tokens.begin(), full.tokens.begin() + static_cast<long>(first)));
  EXPECT_EQ(out.finish_reason, "stop");
}

TEST(Generator, ContextLimitsAndBadInput) {
  Fixture& f = fixture();
  Generator gen(InferenceWeights::from_model(f.model, WeightFormat::Q4_0), f.tok);
  // A prompt as long as the context leaves no room: a ShapeError naming the limit.
  std::string longp;
  while (static_cast<int64_t>(f.tok.encode(longp).size()) < f.cfg.context) longp += " union";
  try {
    gen.generate({"ok", longp}, greedy(5));
    FAIL() << "no error for a prompt of the context's length";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("prompt 1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("context"), std::string::npos) << e.what();
  }
  // Generation stops at the context: a long request is cut, not an error.
  const auto out = gen.generate({"The state"}, greedy(1000))[0];
  EXPECT_EQ(out.finish_reason, "length");
  EXPECT_LE(static_cast<int64_t>(out.tokens.size() + f.tok.encode("The state").size()), f.cfg.context);
  GenerateOptions bad = greedy(5);
  bad.sampling.top_p = 2.0f;
  EXPECT_THROW(gen.generate({"x"}, bad), ValueError);
  EXPECT_THROW(gen.generate({""}, greedy(5)), ValueError);
  bad = greedy(5);
  bad.stop = {""};
  EXPECT_THROW(gen.generate({"x"}, bad), ValueError);
  // Tokenizer larger than the model.
  auto cfg = f.cfg;
  cfg.vocab_size = f.tok.vocab_size() - 1;
  EXPECT_THROW(Generator(models::GPT(cfg, 1), f.tok), ValueError);
}

}  // namespace
}  // namespace cornerstone::testing

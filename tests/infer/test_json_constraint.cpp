// response_format json_object: the JSON-prefix automaton against nlohmann's parser on generated
// texts, and the token mask on GPT-2's real vocabulary: walks that only take unmasked tokens stay
// JSON prefixes and, once closed, parse as one object.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "cli.h"
#include "cornerstone/infer/json_constraint.h"
#include "cornerstone/tokenize/tokenizer.h"

namespace cornerstone::testing {
namespace {

using infer::JsonConstraint;
using infer::JsonPrefix;

bool accepted_object(const std::string& s) {
  JsonPrefix p;
  return p.push(s) && p.complete();
}

bool is_prefix(const std::string& s) {
  JsonPrefix p;
  return p.push(s);
}

TEST(JsonPrefix, AcceptsObjectsAndEveryPrefixOfThem) {
  for (const std::string s : {R"({})", R"({"a": 1})", R"( {"a": [1, -2.5e+3, 0, 0.25, true, false, null, "x\"\\\u00e9\n"], "b": {"c": []}})",
                              R"({"nested": [[[]], [{}], {"k": [1e5, -0E-0]}]})", "{\"unicode\": \"caf\xc3\xa9\"}"}) {
    ASSERT_TRUE(nlohmann::json::accept(s)) << s;
    EXPECT_TRUE(accepted_object(s)) << s;
    for (size_t n = 0; n < s.size(); ++n) {
      EXPECT_TRUE(is_prefix(s.substr(0, n))) << s.substr(0, n);
      JsonPrefix p;
      p.push(s.substr(0, n));
      EXPECT_FALSE(p.complete()) << s.substr(0, n);
    }
  }
}

TEST(JsonPrefix, RejectsWhatNoObjectStartsWith) {
  for (const std::string s : {"[", "1", "\"a\"", "true", "{a", "{\"a\" 1", "{\"a\":}", "{\"a\":01", "{\"a\":1.}", "{\"a\":1e}", "{\"a\":-}",
                              "{\"a\":tru}", "{\"a\":[1,]}", "{,}", "{\"a\":1,}", "{\"a\":\"\x01\"}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12g\"}",
                              "{\"a\":1]", "{}}", "{} ", "{\"a\":[}"})
    EXPECT_FALSE(accepted_object(s)) << s;
  EXPECT_FALSE(is_prefix("{\"a\" 1"));
  EXPECT_FALSE(is_prefix("{\"a\":01"));
  EXPECT_FALSE(is_prefix(std::string("{") + std::string(JsonPrefix::kMaxBlanks + 1, ' ')));
  EXPECT_FALSE(is_prefix("{\"a\":" + std::string(JsonPrefix::kMaxDepth, '[')));
}

// Random short texts over JSON's alphabet: closed objects exactly where nlohmann accepts an object.
TEST(JsonPrefix, AgreesWithNlohmannOnGeneratedTexts) {
  std::mt19937_64 rng(7);
  const std::string alphabet = "{}[]\":,-0123.eE+ \ntrufalsn\\ab";
  int objects = 0;
  for (int i = 0; i < 200000; ++i) {
    std::string s = "{";
    const size_t len = 1 + rng() % 14;
    for (size_t k = 0; k < len; ++k) s += alphabet[rng() % alphabet.size()];
    if (s.find(std::string(JsonPrefix::kMaxBlanks + 1, ' ')) != std::string::npos) continue;
    while (!s.empty() && (s.back() == ' ' || s.back() == '\n')) s.pop_back();  // the automaton ends at the closing brace
    bool parses = false;
    try {
      parses = nlohmann::json::parse(s).is_object();
    } catch (const nlohmann::json::exception&) {
    }
    objects += parses;
    ASSERT_EQ(accepted_object(s), parses) << s;
  }
  EXPECT_GT(objects, 50);
}

TEST(JsonConstraint, WalksThroughUnmaskedTokensStayPrefixesAndCloseAsObjects) {
  const auto tok = tokenize::Tokenizer::load(fetch_dataset("gpt2-tokenizer"));
  const JsonConstraint c(tok);
  const int32_t eos = *tok.eos_id();
  std::mt19937_64 rng(3);
  std::vector<int32_t> closers;  // single tokens that end things, as a model that answers would use
  for (const std::string s : {"\"", "}", "]", ":", "0"})
    if (const auto ids = tok.encode(s); ids.size() == 1) closers.push_back(ids[0]);
  int closed = 0;
  for (int walk = 0; walk < 16; ++walk) {
    JsonPrefix state;
    std::string text;
    std::vector<float> logits(static_cast<size_t>(tok.vocab_size()));
    for (int step = 0; step < 300 && !state.complete(); ++step) {
      std::fill(logits.begin(), logits.end(), 0.0f);
      const int64_t allowed = c.mask(logits, state, std::vector<int32_t>{eos});
      ASSERT_GT(allowed, 0) << text;
      EXPECT_TRUE(std::isinf(logits[static_cast<size_t>(eos)])) << "the end is masked until the object closes";
      std::vector<int32_t> ok;
      for (size_t id = 0; id < logits.size(); ++id)
        if (!std::isinf(logits[id])) ok.push_back(static_cast<int32_t>(id));
      int32_t pick = ok[rng() % ok.size()];
      if (step > 8 && rng() % 4 != 0)  // steer towards closing
        for (int32_t id : closers)
          if (!std::isinf(logits[static_cast<size_t>(id)])) {
            pick = id;
            break;
          }
      ASSERT_TRUE(state.push(c.piece(pick))) << text << " + " << c.piece(pick);
      text += c.piece(pick);
      ASSERT_EQ(text, tok.decode(tok.encode(text))) << "pieces concatenate to the text";
    }
    if (!state.complete()) continue;
    ++closed;
    EXPECT_TRUE(nlohmann::json::parse(text).is_object()) << text;
    std::fill(logits.begin(), logits.end(), 0.0f);
    c.mask(logits, state, std::vector<int32_t>{eos});
    EXPECT_FALSE(std::isinf(logits[static_cast<size_t>(eos)])) << "a closed object may end";
  }
  EXPECT_GE(closed, 8);
}

}  // namespace
}  // namespace cornerstone::testing

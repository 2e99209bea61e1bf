// Instruction-tuning data: a rendered example is the chat prompt generation would see followed by
// the response and the end of turn; targets are the next token on the response only; packing
// keeps every target and never crosses an example boundary; cutting and skipping are counted; the
// loss of a batch is the mean cross-entropy over response tokens alone.
#include <gtest/gtest.h>

#include <cmath>

#include "cornerstone/adapt/instruction.h"
#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/core/error.h"
#include "cornerstone/models/gpt/gpt.h"
#include "cornerstone/tokenize/bpe_trainer.h"

namespace cornerstone::testing {
namespace {

using adapt::InstructionExample;

tokenize::Tokenizer tokenizer(bool chat_tokens) {
  tokenize::BpeTrainerOptions o;
  o.vocab_size = 300;
  o.special_tokens = {"<|endoftext|>"};
  if (chat_tokens) o.special_tokens.insert(o.special_tokens.end(), {"<|im_start|>", "<|im_end|>"});
  const std::vector<std::string> docs = {"user assistant system who gave the address of George Washington Abraham Lincoln"};
  return tokenize::train_bpe_on_texts(docs, o);
}

const InstructionExample kLincoln{"Who gave the 1862 address?", "Abraham Lincoln.", "", 1};

// The number of positions with a target.
int64_t targets_of(const adapt::SftRow& r) {
  int64_t n = 0;
  for (int32_t t : r.targets) n += t >= 0;
  return n;
}

TEST(Instruction, ChatMLExampleIsPromptThenResponseWithLossOnTheResponseOnly) {
  const auto tok = tokenizer(true);
  const auto t = tokenize::chat_template("chatml");
  const adapt::SftRow row = adapt::encode_instruction(kLincoln, t, tok);
  const std::string prompt = tokenize::render_chat({{"user", kLincoln.prompt}}, t, true);
  const std::vector<int32_t> prompt_ids = tok.encode(prompt);
  EXPECT_EQ(tok.decode(row.ids), prompt + "Abraham Lincoln.<|im_end|>\n");  // no end-of-text: <|im_end|> stops
  ASSERT_EQ(row.targets.size(), row.ids.size());
  const size_t p = prompt_ids.size();
  ASSERT_TRUE(std::equal(prompt_ids.begin(), prompt_ids.end(), row.ids.begin()));  // the prompt as generate encodes it
  for (size_t i = 0; i + 1 < p; ++i) EXPECT_EQ(row.targets[i], -1) << i;             // no loss inside the prompt
  for (size_t i = p - 1; i + 1 < row.ids.size(); ++i) EXPECT_EQ(row.targets[i], row.ids[i + 1]) << i;
  EXPECT_EQ(row.targets.back(), -1);
  // The model learns to end its turn: <|im_end|> is a single token and a target.
  const int32_t im_end = *tok.token_to_id("<|im_end|>");
  EXPECT_NE(std::find(row.targets.begin(), row.targets.end(), im_end), row.targets.end());
}

TEST(Instruction, PlainTemplateContinuesAfterTheColonAndSystemTurnsAreRendered) {
  const auto tok = tokenizer(false);
  const auto t = tokenize::chat_template("plain");
  InstructionExample e = kLincoln;
  e.system = "Answer with a name.";
  const adapt::SftRow row = adapt::encode_instruction(e, t, tok);
  // The end of turn is plain text: the end-of-text token follows, so that the model learns to stop.
  EXPECT_EQ(tok.decode(row.ids),
            "System: Answer with a name.\n\nUser: Who gave the 1862 address?\n\nAssistant: Abraham Lincoln.\n\n<|endoftext|>");
  EXPECT_EQ(targets_of(row), static_cast<int64_t>(tok.encode(" Abraham Lincoln.\n\n").size()) + 1);
  EXPECT_EQ(row.ids.back(), *tok.eos_id());
}

TEST(Instruction, PackingKeepsEveryTargetAndNeverCrossesAnExample) {
  const auto tok = tokenizer(true);
  const auto t = tokenize::chat_template("chatml");
  std::vector<InstructionExample> examples;
  for (int i = 0; i < 9; ++i)
    examples.push_back({"Who gave address " + std::to_string(i) + "?", i % 2 ? "George Washington." : "Abraham Lincoln.", "", i + 1});
  int64_t singles = 0;
  size_t longest = 0;
  for (const auto& e : examples) {
    const auto r = adapt::encode_instruction(e, t, tok);
    singles += targets_of(r);
    longest = std::max(longest, r.ids.size());
  }
  const int64_t cap = static_cast<int64_t>(3 * longest);
  const auto packed = adapt::encode_instructions(examples, t, tok, cap, true, "x.jsonl");
  const auto unpacked = adapt::encode_instructions(examples, t, tok, cap, false, "x.jsonl");
  EXPECT_EQ(unpacked.rows.size(), examples.size());
  EXPECT_LT(packed.rows.size(), examples.size());
  EXPECT_GE(packed.rows.size(), examples.size() / 3);
  EXPECT_EQ(packed.response_tokens, singles);
  EXPECT_EQ(unpacked.response_tokens, singles);
  EXPECT_EQ(packed.examples, 9);
  const int32_t im_start = *tok.token_to_id("<|im_start|>");
  for (const auto& r : packed.rows) {
    EXPECT_LE(static_cast<int64_t>(r.ids.size()), cap);
    for (size_t i = 0; i + 1 < r.ids.size(); ++i) {
      if (r.ids[i + 1] == im_start) {
        EXPECT_EQ(r.targets[i], -1) << "a target crosses into the next example at " << i;
      }
      if (r.targets[i] >= 0) {
        EXPECT_EQ(r.targets[i], r.ids[i + 1]);
      }
    }
  }
}

TEST(Instruction, LongExamplesAreCutOrSkippedAndCounted) {
  const auto tok = tokenizer(true);
  const auto t = tokenize::chat_template("chatml");
  const auto full = adapt::encode_instruction(kLincoln, t, tok);
  const int64_t p = static_cast<int64_t>(tok.encode(tokenize::render_chat({{"user", kLincoln.prompt}}, t, true)).size());
  // Cut two tokens into the response: one target is left (the last kept position predicts nothing).
  auto d = adapt::encode_instructions({kLincoln}, t, tok, p + 2, true, "x.jsonl");
  EXPECT_EQ(d.truncated, 1);
  ASSERT_EQ(d.rows.size(), 1u);
  EXPECT_EQ(static_cast<int64_t>(d.rows[0].ids.size()), p + 2);
  EXPECT_EQ(d.response_tokens, 2);  // positions p-1 and p predict tokens p and p+1
  EXPECT_EQ(d.rows[0].targets.back(), -1);
  EXPECT_LT(d.response_tokens, targets_of(full));
  // A prompt that fills the row leaves nothing to learn: skipped, and an error when all are.
  InstructionExample long_prompt = kLincoln;
  long_prompt.prompt = std::string(400, 'a');
  d = adapt::encode_instructions({long_prompt, kLincoln}, t, tok, static_cast<int64_t>(full.ids.size()), true, "x.jsonl");
  EXPECT_EQ(d.skipped, 1);
  EXPECT_EQ(d.examples, 1);
  try {
    adapt::encode_instructions({long_prompt}, t, tok, 16, true, "data/sft.jsonl");
    FAIL() << "expected an error";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("data/sft.jsonl"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--max-length"), std::string::npos) << e.what();
  }
}

// GPT::loss on a packed row is the mean cross-entropy over response positions, computed here from
// the full logits: a loss that leaked onto prompt tokens would not match.
TEST(Instruction, LossIsTheMeanOverResponseTokens) {
  const auto tok = tokenizer(true);
  const auto t = tokenize::chat_template("chatml");
  const auto d = adapt::encode_instructions({kLincoln, {"Who gave the first address?", "George Washington.", "", 2}}, t, tok, 256,
                                            true, "x.jsonl");
  ASSERT_EQ(d.rows.size(), 1u);
  models::DecoderConfig c = models::DecoderConfig::preset("gpt2-tiny");
  c.vocab_size = tok.vocab_size();
  c.context = 256, c.n_layers = 1, c.d_model = 32, c.n_heads = 2, c.n_kv_heads = 2, c.d_ff = 64;
  const models::GPT gpt(c, 7);
  const auto& r = d.rows[0];
  const int64_t T = static_cast<int64_t>(r.ids.size());
  autograd::NoGradGuard no_grad;
  const Tensor ids = Tensor::from_data({1, T}, r.ids);
  const double loss = gpt.loss(ids, Tensor::from_data({1, T}, r.targets)).item();
  const Tensor logits = gpt.logits(gpt.hidden(ids));
  const float* l = logits.data<float>();
  const int64_t V = logits.size(2);
  double sum = 0;
  int64_t n = 0;
  for (int64_t i = 0; i < T; ++i) {
    const int32_t y = r.targets[static_cast<size_t>(i)];
    if (y < 0) continue;
    double mx = -1e30, z = 0;
    for (int64_t v = 0; v < V; ++v) mx = std::max(mx, static_cast<double>(l[i * V + v]));
    for (int64_t v = 0; v < V; ++v) z += std::exp(l[i * V + v] - mx);
    sum += mx + std::log(z) - l[i * V + y];
    ++n;
  }
  EXPECT_EQ(n, d.response_tokens);
  EXPECT_NEAR(loss, sum / static_cast<double>(n), 1e-5 * std::abs(loss));
}

}  // namespace
}  // namespace cornerstone::testing

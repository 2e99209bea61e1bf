// Chat templates: exact renderings of both built-ins (few-shot turns included), the choice of
// template for a model folder, the chat markers encoding to single special tokens, and the JSON /
// JSONL readers' errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cli.h"
#include "cornerstone/core/error.h"
#include "cornerstone/tokenize/chat_template.h"
#include "cornerstone/tokenize/bpe_trainer.h"

namespace cornerstone::testing {
namespace {

using tokenize::ChatMessage;
namespace fs = std::filesystem;

const std::vector<ChatMessage> kFewShot = {{"system", "Answer with one word."},
                                           {"user", "Capital of France?"},
                                           {"assistant", "Paris"},
                                           {"user", "Capital of Italy?"}};

tokenize::Tokenizer tokenizer(bool chat_tokens) {
  tokenize::BpeTrainerOptions o;
  o.vocab_size = 300;
  o.special_tokens = {"<|endoftext|>"};
  if (chat_tokens) o.special_tokens.insert(o.special_tokens.end(), {"<|im_start|>", "<|im_end|>"});
  const std::vector<std::string> docs = {"user assistant system capital of France Italy Paris Rome"};
  return tokenize::train_bpe_on_texts(docs, o);
}

TEST(ChatTemplate, ChatMLRendering) {
  const auto t = tokenize::chat_template("chatml");
  EXPECT_EQ(tokenize::render_chat(kFewShot, t, true),
            "<|im_start|>system\nAnswer with one word.<|im_end|>\n"
            "<|im_start|>user\nCapital of France?<|im_end|>\n"
            "<|im_start|>assistant\nParis<|im_end|>\n"
            "<|im_start|>user\nCapital of Italy?<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_EQ(tokenize::render_chat({{"user", "Hi"}}, t, false), "<|im_start|>user\nHi<|im_end|>\n");
}

TEST(ChatTemplate, PlainRendering) {
  const auto t = tokenize::chat_template("plain");
  EXPECT_EQ(tokenize::render_chat(kFewShot, t, true),
            "System: Answer with one word.\n\nUser: Capital of France?\n\nAssistant: Paris\n\nUser: Capital of Italy?\n\nAssistant:");
  EXPECT_EQ(t.stop_strings, (std::vector<std::string>{"\nUser:", "\nSystem:"}));
}

TEST(ChatTemplate, MarkersAreSingleSpecialTokensWhenTheTokenizerHasThem) {
  const auto tok = tokenizer(true);
  const auto t = tokenize::chat_template("chatml");
  const auto ids = tok.encode(tokenize::render_chat({{"user", "Hi"}}, t, true));
  const int32_t start = *tok.token_to_id("<|im_start|>"), end = *tok.token_to_id("<|im_end|>");
  EXPECT_EQ(ids.front(), start);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), start), 2);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), end), 1);
  EXPECT_EQ(t.stop_token_ids(tok), (std::vector<int32_t>{end, start}));
  EXPECT_TRUE(t.stop_token_ids(tokenizer(false)).empty());
}

TEST(ChatTemplate, ModelFolderChoosesItsTemplate) {
  const std::string dir = fresh_temp_dir("chat_template");
  // No name: chatml when the tokenizer has the markers, plain otherwise.
  EXPECT_EQ(tokenize::chat_template_for(dir, tokenizer(true)).name, "chatml");
  EXPECT_EQ(tokenize::chat_template_for(dir, tokenizer(false)).name, "plain");
  std::ofstream(fs::path(dir) / "config.json") << R"({"model_type": "gpt2", "chat_template": "plain"})";
  EXPECT_EQ(tokenize::chat_template_for(dir, tokenizer(true)).name, "plain");
  std::ofstream(fs::path(dir) / "config.json") << R"({"model_type": "gpt2", "chat_template": "alpaca"})";
  EXPECT_THROW(tokenize::chat_template_for(dir, tokenizer(true)), FormatError);
  fs::remove_all(dir);
}

TEST(ChatTemplate, ReadsJsonAndJsonl) {
  const auto a = tokenize::parse_chat(R"({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]})", "a.json");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[1].role, "user");
  EXPECT_EQ(a[1].content, "u");
  const auto b = tokenize::parse_chat(R"([{"role": "user", "content": "x"}])", "b.json");
  EXPECT_EQ(b.size(), 1u);
  const auto c = tokenize::parse_chat("{\"role\": \"user\", \"content\": \"1\"}\n\n{\"role\": \"assistant\", \"content\": \"2\"}\n", "c.jsonl");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[1].content, "2");
  const auto d = tokenize::parse_chat("{\"role\": \"user\", \"content\": \"only\"}\n", "d.jsonl");  // JSONL of one line
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].content, "only");
}

TEST(ChatTemplate, BadConversationsAreErrorsNamingTheProblem) {
  auto message_of = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(message_of([] { tokenize::parse_chat(R"({"msgs": []})", "x.json"); }).find("messages"), std::string::npos);
  EXPECT_NE(message_of([] { tokenize::parse_chat(R"({"messages": [{"role": "user"}]})", "x.json"); }).find("message 0"), std::string::npos);
  EXPECT_NE(message_of([] { tokenize::parse_chat("{\"role\": \"user\", \"content\": \"1\"}\nnot json\n", "x.jsonl"); }).find("line 2"),
            std::string::npos);
  EXPECT_NE(message_of([] { tokenize::parse_chat("", "x.jsonl"); }).find("no messages"), std::string::npos);
  EXPECT_NE(message_of([] { tokenize::render_chat({{"robot", "x"}}, tokenize::chat_template("chatml"), true); }).find("role 'robot'"),
            std::string::npos);
  EXPECT_THROW(tokenize::render_chat({}, tokenize::chat_template("plain"), true), ValueError);
  EXPECT_THROW(tokenize::chat_template("jinja"), ValueError);
}

}  // namespace
}  // namespace cornerstone::testing

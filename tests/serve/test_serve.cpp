// `cornerstone serve` end to end over HTTP, on a small GPT-2 trained here on real text: OpenAI's
// response shapes, greedy output equal to `cornerstone generate --greedy` (alone and with other
// requests in flight), streaming, embeddings equal to `cornerstone embed`, every error status, a
// full queue, SIGTERM finishing the requests in flight, clients that hang up. Retrieval,
// json_object and the real clients are in test_serve_clients.cpp.
#include <map>
#include <set>

#include "cornerstone/adapt/lora.h"
#include "cornerstone/models/load.h"
#include "serve_fixture.h"

namespace cornerstone::testing {
namespace {

TEST_F(Serve, HealthAndModels) {
  auto r = request(server_->port(), "GET", "/health", "", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body["status"], "ok");
  r = request(server_->port(), "GET", "/v1/models");
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.body["object"], "list");
  ASSERT_EQ(r.body["data"].size(), 4u);
  EXPECT_EQ(r.body["data"][0]["id"], "sotu-gpt");
  EXPECT_EQ(r.body["data"][1]["id"], "sotu-gpt-q8");
  EXPECT_EQ(r.body["data"][2]["id"], "sotu-gguf");
  EXPECT_EQ(r.body["data"][3]["id"], "sotu-embed");
  EXPECT_EQ(r.body["data"][0]["object"], "model");
  EXPECT_TRUE(r.body["data"][0]["created"].is_number_integer());
  r = request(server_->port(), "GET", "/v1/models/sotu-gpt");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body["id"], "sotu-gpt");
  expect_error(request(server_->port(), "GET", "/v1/models/nope"), 404, "model", "model_not_found");
}

TEST_F(Serve, GreedyCompletionEqualsGenerateCli) {
  for (const std::string& p : {kPrompts[0], kPrompts[3]}) {
    const auto cli = run_cli("generate --model " + model() + " --greedy --max-tokens 24 --prompt '" + p + "'");
    ASSERT_EQ(cli.exit_code, 0) << cli.output;
    ASSERT_EQ(cli.output.rfind(p, 0), 0u) << cli.output;
    const std::string expected = cli.output.substr(p.size(), cli.output.size() - p.size() - 1);  // without the echo and '\n'
    const auto r = post("/v1/completions", {{"model", "sotu-gpt"}, {"prompt", p}, {"max_tokens", 24}, {"temperature", 0}});
    ASSERT_EQ(r.status, 200) << r.text;
    EXPECT_EQ(r.body["object"], "text_completion");
    EXPECT_EQ(r.body["model"], "sotu-gpt");
    EXPECT_EQ(r.body["id"].get<std::string>().rfind("cmpl-", 0), 0u);
    EXPECT_TRUE(r.body["created"].is_number_integer());
    ASSERT_EQ(r.body["choices"].size(), 1u);
    const json& c = r.body["choices"][0];
    EXPECT_EQ(c["index"], 0);
    EXPECT_TRUE(c["logprobs"].is_null());
    EXPECT_EQ(c["text"], expected) << "prompt: " << p;
    const auto tokens = post("/tokenize", {{"content", p}});
    ASSERT_EQ(tokens.status, 200) << tokens.text;
    EXPECT_EQ(r.body["usage"]["prompt_tokens"], tokens.body["tokens"].size());
    const int64_t n = r.body["usage"]["completion_tokens"];
    EXPECT_EQ(r.body["usage"]["total_tokens"], n + static_cast<int64_t>(tokens.body["tokens"].size()));
    EXPECT_EQ(c["finish_reason"], n == 24 ? "length" : "stop");
  }
}

TEST_F(Serve, TheModelFieldPicksAQuantizedFolderOrAGGUFFile) {
  const std::string p = kPrompts[1];
  for (const auto& [id, path] : {std::pair{"sotu-gpt-q8", q8_model()}, std::pair{"sotu-gguf", gguf_model()}}) {
    const auto cli = run_cli("generate --model " + path + " --greedy --max-tokens 24 --prompt '" + p + "'");
    ASSERT_EQ(cli.exit_code, 0) << cli.output;
    const auto r = post("/v1/completions", {{"model", id}, {"prompt", p}, {"max_tokens", 24}, {"temperature", 0}});
    ASSERT_EQ(r.status, 200) << r.text;
    EXPECT_EQ(r.body["model"], id);
    EXPECT_EQ(p + r.body["choices"][0]["text"].get<std::string>() + "\n", cli.output) << id;
  }
  // A quantized folder holds inference weights only: no embeddings, and the error says so.
  expect_error(post("/v1/embeddings", {{"model", "sotu-gpt-q8"}, {"input", "x"}}), 400, "model", "model_not_supported");
}

TEST_F(Serve, GreedyChatEqualsGenerateCliChat) {
  const json messages = json::array({{{"role", "system"}, {"content", "You speak to Congress."}}, {{"role", "user"}, {"content", "The state of the Union?"}}});
  const auto cli = run_cli("generate --model " + model() + " --greedy --max-tokens 20 --chat " + file("chat.json", json{{"messages", messages}}.dump()));
  ASSERT_EQ(cli.exit_code, 0) << cli.output;
  const auto r = post("/v1/chat/completions", {{"model", "sotu-gpt"}, {"messages", messages}, {"max_tokens", 20}, {"temperature", 0}});
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.body["object"], "chat.completion");
  EXPECT_EQ(r.body["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  const json& c = r.body["choices"][0];
  EXPECT_EQ(c["message"]["role"], "assistant");
  EXPECT_EQ(c["message"]["content"].get<std::string>() + "\n", cli.output);
  EXPECT_GT(r.body["usage"]["prompt_tokens"].get<int64_t>(), 10);
}

TEST_F(Serve, ConcurrentGreedyRequestsEqualEachAlone) {
  std::vector<std::string> alone;
  for (const auto& p : kPrompts) {
    const auto r = post("/v1/completions", {{"prompt", p}, {"max_tokens", 30}, {"temperature", 0}});
    ASSERT_EQ(r.status, 200) << r.text;
    alone.push_back(r.body["choices"][0]["text"]);
  }
  // 8 at once on 3 slots: requests join the running batch and wait for slots.
  std::vector<std::future<Reply>> futures;
  for (int round = 0; round < 2; ++round)
    for (const auto& p : kPrompts)
      futures.push_back(std::async(std::launch::async, [p] {
        return post("/v1/completions", {{"prompt", p}, {"max_tokens", 30}, {"temperature", 0}});
      }));
  for (size_t i = 0; i < futures.size(); ++i) {
    const Reply r = futures[i].get();
    ASSERT_EQ(r.status, 200) << r.text;
    EXPECT_EQ(r.body["choices"][0]["text"], alone[i % kPrompts.size()]) << "request " << i;
  }
}

TEST_F(Serve, StreamedChatAddsUpToTheCompletion) {
  const json messages = json::array({{{"role", "user"}, {"content", "Tell the Congress about the economy."}}});
  const auto whole = post("/v1/chat/completions", {{"messages", messages}, {"max_tokens", 25}, {"temperature", 0}});
  ASSERT_EQ(whole.status, 200) << whole.text;
  const auto r = post("/v1/chat/completions", {{"messages", messages}, {"max_tokens", 25}, {"temperature", 0}, {"stream", true},
                                               {"stream_options", {{"include_usage", true}}}});
  ASSERT_EQ(r.status, 200) << r.text;
  bool done = false;
  const auto events = sse_events(r.text, &done);
  EXPECT_TRUE(done) << r.text;
  ASSERT_GE(events.size(), 3u) << r.text;
  std::string text;
  std::string finish;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const json& e = events[i];
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    EXPECT_EQ(e["id"], events[0]["id"]);
    EXPECT_TRUE(e["usage"].is_null()) << "usage comes in the last chunk only";
    ASSERT_EQ(e["choices"].size(), 1u);
    if (i == 0) {
      EXPECT_EQ(e["choices"][0]["delta"]["role"], "assistant");
    }
    if (e["choices"][0]["delta"].contains("content")) text += e["choices"][0]["delta"]["content"].get<std::string>();
    if (!e["choices"][0]["finish_reason"].is_null()) finish = e["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(text, whole.body["choices"][0]["message"]["content"]);
  EXPECT_EQ(finish, whole.body["choices"][0]["finish_reason"]);
  const json& last = events.back();
  EXPECT_TRUE(last["choices"].empty());
  EXPECT_EQ(last["usage"], whole.body["usage"]);
}

TEST_F(Serve, SeveralChoicesSampleWithSeedPlusTheirIndex) {
  const json base = {{"prompt", kPrompts[0]}, {"max_tokens", 16}, {"temperature", 1.0}, {"seed", 7}};
  json three = base;
  three["n"] = 3;
  const auto r = post("/v1/completions", three);
  ASSERT_EQ(r.status, 200) << r.text;
  ASSERT_EQ(r.body["choices"].size(), 3u);
  int64_t tokens = 0;
  for (int i = 0; i < 3; ++i) {
    json one = base;
    one["seed"] = 7 + i;
    const auto alone = post("/v1/completions", one);
    ASSERT_EQ(alone.status, 200) << alone.text;
    EXPECT_EQ(r.body["choices"][i]["index"], i);
    EXPECT_EQ(r.body["choices"][i]["text"], alone.body["choices"][0]["text"]) << "choice " << i;
    EXPECT_EQ(r.body["usage"]["prompt_tokens"], alone.body["usage"]["prompt_tokens"]);
    tokens += alone.body["usage"]["completion_tokens"].get<int64_t>();
  }
  EXPECT_EQ(r.body["usage"]["completion_tokens"], tokens);
  EXPECT_NE(r.body["choices"][0]["text"], r.body["choices"][1]["text"]) << "different seeds, different samples";

  // Streamed: each choice's deltas add up to its text; one [DONE] after every choice finished.
  const json messages = json::array({{{"role", "user"}, {"content", "The economy?"}}});
  const json chat = {{"messages", messages}, {"max_tokens", 12}, {"temperature", 1.0}, {"seed", 3}, {"n", 2}};
  const auto whole = post("/v1/chat/completions", chat);
  ASSERT_EQ(whole.status, 200) << whole.text;
  json streamed = chat;
  streamed["stream"] = true;
  streamed["stream_options"] = {{"include_usage", true}};
  const auto st = post("/v1/chat/completions", streamed);
  bool done = false;
  std::vector<std::string> text(2);
  std::vector<int> finishes(2, 0);
  json usage;
  for (const json& e : sse_events(st.text, &done)) {
    if (e["choices"].empty()) usage = e["usage"];
    for (const json& c : e["choices"]) {
      const int i = c["index"];
      if (c["delta"].contains("content")) text[i] += c["delta"]["content"].get<std::string>();
      if (!c["finish_reason"].is_null()) ++finishes[i];
    }
  }
  EXPECT_TRUE(done);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(text[i], whole.body["choices"][i]["message"]["content"]) << "choice " << i;
    EXPECT_EQ(finishes[i], 1);
  }
  EXPECT_EQ(usage, whole.body["usage"]);
}

TEST_F(Serve, SeveralPromptsInOneCompletionRequest) {
  std::vector<std::string> alone;
  for (int i = 0; i < 3; ++i) {
    const auto r = post("/v1/completions", {{"prompt", kPrompts[i]}, {"max_tokens", 10}, {"temperature", 0}});
    ASSERT_EQ(r.status, 200) << r.text;
    alone.push_back(r.body["choices"][0]["text"]);
  }
  // Text, token ids and text again; two choices each: choice 2p + j belongs to prompt p.
  const auto ids = post("/tokenize", {{"content", kPrompts[1]}});
  const auto r = post("/v1/completions", {{"prompt", {kPrompts[0], ids.body["tokens"], kPrompts[2]}}, {"max_tokens", 10}, {"temperature", 0}, {"n", 2}});
  ASSERT_EQ(r.status, 200) << r.text;
  ASSERT_EQ(r.body["choices"].size(), 6u);
  for (int c = 0; c < 6; ++c) {
    EXPECT_EQ(r.body["choices"][c]["index"], c);
    EXPECT_EQ(r.body["choices"][c]["text"], alone[c / 2]) << "choice " << c;
  }
  int64_t prompt_tokens = 0;
  for (int i = 0; i < 3; ++i) prompt_tokens += static_cast<int64_t>(post("/tokenize", {{"content", kPrompts[i]}}).body["tokens"].size());
  EXPECT_EQ(r.body["usage"]["prompt_tokens"], prompt_tokens);
  expect_error(post("/v1/completions", {{"prompt", std::vector<std::string>(17, "x")}}), 400, "prompt");
  expect_error(post("/v1/completions", {{"prompt", std::vector<std::string>(4, "x")}, {"n", 5}}), 400, "n");
  expect_error(post("/v1/completions", {{"prompt", {"x", 3}}}), 400, "prompt");
}

TEST_F(Serve, StreamedCompletionAndLogprobs) {
  const auto whole = post("/v1/completions", {{"prompt", kPrompts[1]}, {"max_tokens", 12}, {"temperature", 0}, {"logprobs", 2}});
  ASSERT_EQ(whole.status, 200) << whole.text;
  const json& lp = whole.body["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), whole.body["usage"]["completion_tokens"].get<size_t>());
  for (size_t i = 0; i < lp["tokens"].size(); ++i) {
    EXPECT_LE(lp["token_logprobs"][i].get<double>(), 0.0);
    EXPECT_EQ(lp["top_logprobs"][i].size(), 2u);
  }
  const auto r = post("/v1/completions", {{"prompt", kPrompts[1]}, {"max_tokens", 12}, {"temperature", 0}, {"stream", true}});
  bool done = false;
  std::string text;
  for (const json& e : sse_events(r.text, &done)) {
    EXPECT_EQ(e["object"], "text_completion");
    text += e["choices"][0]["text"].get<std::string>();
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(text, whole.body["choices"][0]["text"]);
}

TEST_F(Serve, EmbeddingsEqualEmbedCliInFloatAndBase64) {
  const std::vector<std::string> texts = {"The state of the Union is strong.", "Fellow citizens"};
  const auto cli = run_cli("embed --model " + model() + " < " + file("embed.txt", texts[0] + "\n" + texts[1] + "\n"));
  ASSERT_EQ(cli.exit_code, 0) << cli.output;
  std::vector<std::vector<float>> expected;
  std::istringstream lines(cli.output);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream in(line);
    expected.emplace_back();
    for (float v; in >> v;) expected.back().push_back(v);
  }
  ASSERT_EQ(expected.size(), 2u) << cli.output;
  const auto f = post("/v1/embeddings", {{"model", "sotu-gpt"}, {"input", texts}});
  ASSERT_EQ(f.status, 200) << f.text;
  EXPECT_EQ(f.body["object"], "list");
  EXPECT_GT(f.body["usage"]["prompt_tokens"].get<int>(), 4);
  // Without a model: the --embeddings-model (the same weights under another name).
  const auto b = post("/v1/embeddings", {{"input", texts}, {"encoding_format", "base64"}});
  ASSERT_EQ(b.status, 200) << b.text;
  EXPECT_EQ(b.body["model"], "sotu-embed");
  // It only embeds: no KV cache, no completions.
  expect_error(post("/v1/completions", {{"model", "sotu-embed"}, {"prompt", "x"}}), 400, "model", "model_not_supported");
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(f.body["data"][i]["object"], "embedding");
    EXPECT_EQ(f.body["data"][i]["index"], i);
    const auto v = f.body["data"][i]["embedding"].get<std::vector<float>>();
    ASSERT_EQ(v.size(), expected[i].size());
    // base64 of little-endian float32: decode it here.
    const std::string s = b.body["data"][i]["embedding"];
    std::string bytes;
    uint32_t acc = 0;
    int bits = 0;
    for (char ch : s) {
      if (ch == '=') break;
      const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
      acc = (acc << 6) | static_cast<uint32_t>(std::strchr(abc, ch) - abc);
      bits += 6;
      if (bits >= 8) bits -= 8, bytes += static_cast<char>((acc >> bits) & 0xff);
    }
    ASSERT_EQ(bytes.size(), v.size() * 4);
    for (size_t k = 0; k < v.size(); ++k) {
      float x;
      std::memcpy(&x, bytes.data() + 4 * k, 4);
      EXPECT_EQ(x, v[k]) << "base64 and float differ at " << k;
      EXPECT_NEAR(v[k], expected[i][k], 1e-6 * std::max(1.0f, std::fabs(expected[i][k]))) << "text " << i << " dim " << k;
    }
  }
}

// The sum of a metric's series on a /metrics page (every model's), -1 when it has none.
double metric(const std::string& page, const std::string& name) {
  double sum = 0;
  bool found = false;
  for (size_t at = page.find("\n" + name); at != std::string::npos; at = page.find("\n" + name, at + 1)) {
    const char next = page[at + 1 + name.size()];
    if (next != ' ' && next != '{') continue;  // another metric whose name starts with this one
    const size_t value = page.find(' ', page.find('}', at) < page.find('\n', at + 1) ? page.find('}', at) : at + 1);
    sum += std::stod(page.substr(value + 1)), found = true;
  }
  return found ? sum : -1;
}

TEST_F(Serve, TokenizeDetokenizeAndMetrics) {
  const auto t = post("/tokenize", {{"content", "The state of the Union"}});
  ASSERT_EQ(t.status, 200) << t.text;
  ASSERT_FALSE(t.body["tokens"].empty());
  const auto d = post("/detokenize", {{"tokens", t.body["tokens"]}});
  ASSERT_EQ(d.status, 200) << d.text;
  EXPECT_EQ(d.body["content"], "The state of the Union");
  expect_error(post("/detokenize", {{"tokens", {1, 99999}}}), 400, "tokens");
  ASSERT_EQ(post("/v1/completions", {{"prompt", "We"}, {"max_tokens", 3}}).status, 200);
  const auto m = request(server_->port(), "GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  // Per served model (every one has its series, from the start), labelled with the id clients send.
  for (const char* s : {"cornerstone_requests_total{route=\"/v1/completions\",status=\"200\"}", "cornerstone_generated_tokens_total{model=\"sotu-gpt\"} ",
                        "cornerstone_prompt_tokens_total{model=\"sotu-gpt-q8\"} ", "cornerstone_embedded_tokens_total{model=\"sotu-embed\"} ",
                        "cornerstone_cancelled_requests_total{model=\"sotu-gguf\"} ", "cornerstone_queue_depth{model=\"sotu-gpt\"} ",
                        "cornerstone_busy_slots{model=\"sotu-gpt\"} ", "cornerstone_time_to_first_token_seconds_bucket{model=\"sotu-gpt\",le=\"+Inf\"} ",
                        "cornerstone_time_to_first_token_seconds_count{model=\"sotu-gpt-q8\"} ",
                        "cornerstone_time_per_output_token_seconds_count{model=\"sotu-gpt\"} "})
    EXPECT_NE(m.text.find(s), std::string::npos) << s << "\n" << m.text;
  EXPECT_GT(metric(m.text, "cornerstone_generated_tokens_total"), 0) << m.text;
  // One HELP / TYPE header per metric, however many models.
  size_t headers = 0;
  for (size_t at = 0; (at = m.text.find("# TYPE cornerstone_generated_tokens_total ", at)) != std::string::npos; ++at) ++headers;
  EXPECT_EQ(headers, 1u) << m.text;
}

TEST_F(Serve, ErrorsAreOpenAIErrorObjects) {
  const int port = server_->port();
  expect_error(request(port, "GET", "/v1/models", "", ""), 401, "", "invalid_api_key");
  expect_error(request(port, "POST", "/v1/completions", R"({"prompt": "x"})", "wrong"), 401, "", "invalid_api_key");
  expect_error(request(port, "POST", "/v1/completions", "{not json"), 400, "", "invalid_json");
  expect_error(request(port, "POST", "/v1/completions", "[1, 2]"), 400, "", "invalid_json");
  expect_error(request(port, "POST", "/v1/completions", R"({"prompt": "x", "max_tokens": 1e999})"), 400, "", "invalid_json");
  expect_error(post("/v1/completions", {{"model", "gpt-4"}, {"prompt", "x"}}), 404, "model", "model_not_found");
  expect_error(post("/v1/completions", {{"max_tokens", 3}}), 400, "prompt");
  expect_error(post("/v1/completions", {{"prompt", "x"}, {"temperature", "hot"}}), 400, "temperature");
  expect_error(post("/v1/completions", {{"prompt", "x"}, {"temperature", 7}}), 400, "temperature");
  expect_error(post("/v1/completions", {{"prompt", "x"}, {"max_tokens", -1}}), 400, "max_tokens");
  expect_error(post("/v1/completions", {{"prompt", "x"}, {"max_tokens", 1000000}}), 400, "max_tokens", "context_length_exceeded");
  expect_error(post("/v1/completions", {{"prompt", "x"}, {"n", 17}}), 400, "n");
  expect_error(post("/v1/completions", {{"prompt", "x"}, {"stop", {1}}}), 400, "stop");
  expect_error(post("/v1/completions", {{"prompt", "x"}, {"stream", "yes"}}), 400, "stream");
  expect_error(post("/v1/chat/completions", {{"messages", json::array()}}), 400, "messages");
  expect_error(post("/v1/chat/completions", {{"messages", {{{"role", "robot"}, {"content", "x"}}}}}), 400, "messages[0].role");
  expect_error(post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", 3}}}}}), 400, "messages[0].content");
  expect_error(post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"response_format", {{"type", "json_schema"}}}}),
               400, "response_format", "unsupported_parameter");
  expect_error(post("/v1/embeddings", {{"input", json::array()}}), 400, "input");
  expect_error(post("/v1/embeddings", {{"input", "x"}, {"encoding_format", "hex"}}), 400, "encoding_format");
  std::string long_prompt;
  for (int i = 0; i < 200; ++i) long_prompt += " the state of the Union";
  expect_error(post("/v1/completions", {{"prompt", long_prompt}}), 413, "prompt", "context_length_exceeded");
  expect_error(request(port, "POST", "/v1/completions", std::string(5 << 20, ' ')), 413, "", "body_too_large");
  expect_error(request(port, "GET", "/v2/nothing"), 404, "", "not_found");
  // The server is still up and answering.
  EXPECT_EQ(post("/v1/completions", {{"prompt", "We"}, {"max_tokens", 2}}).status, 200);
}

TEST_F(Serve, FullQueueAnswers429WithRetryAfter) {
  ServeProcess s({"--model", slow_model(), "--parallel", "1", "--max-queue", "1"});
  // Six requests arrive together (sent while the server is stopped): one runs, one waits for the
  // slot, the other four are refused.
  s.pause();
  std::vector<std::future<Reply>> futures;
  for (int i = 0; i < 6; ++i)
    futures.push_back(std::async(std::launch::async, [&] {
      return request(s.port(), "POST", "/v1/completions", json{{"prompt", "The state"}, {"max_tokens", 200}, {"temperature", 0}}.dump(), "");
    }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  s.resume();
  int ok = 0, refused = 0;
  for (auto& f : futures) {
    const Reply r = f.get();
    if (r.status == 200) {
      ++ok;
    } else {
      expect_error(r, 429, "", "queue_full");
      EXPECT_EQ(r.retry_after, "1");
      ++refused;
    }
  }
  EXPECT_EQ(ok, 2);
  EXPECT_EQ(refused, 4);
  EXPECT_EQ(request(s.port(), "GET", "/health").status, 200);
}

// A prompt that takes longer to read than --keep-alive gets ": keep-alive" comments before its
// first token (proxies drop a silent connection); the stream then goes on as usual.
TEST_F(Serve, LongPromptsGetKeepAliveComments) {
  ServeProcess s({"--model", slow_model(), "--parallel", "1", "--prefill-chunk", "1", "--keep-alive", "0.01"});
  std::string prompt;
  for (int i = 0; i < 10; ++i) prompt += "The state of the Union is strong. ";  // ~160 of the 256 positions
  const auto r = request(s.port(), "POST", "/v1/completions",
                         json{{"prompt", prompt}, {"max_tokens", 2}, {"temperature", 0}, {"stream", true}}.dump(), "");
  ASSERT_EQ(r.status, 200) << r.text;
  const size_t comment = r.text.find(": keep-alive\n\n"), data = r.text.find("data: ");
  ASSERT_NE(comment, std::string::npos) << "one token read per step, 10 ms allowed between events:\n" << r.text;
  EXPECT_LT(comment, data) << r.text;
  EXPECT_NE(r.text.find("data: [DONE]"), std::string::npos) << r.text;
}

TEST_F(Serve, SigtermFinishesTheRequestsInFlight) {
  ServeProcess s({"--model", slow_model(), "--parallel", "1", "--max-queue", "4"});
  s.pause();
  std::vector<std::future<Reply>> streams;
  for (int i = 0; i < 3; ++i)
    streams.push_back(std::async(std::launch::async, [&] {
      return request(s.port(), "POST", "/v1/completions",
                     json{{"prompt", "The state"}, {"max_tokens", 200}, {"temperature", 0}, {"stream", true}}.dump(), "");
    }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  s.resume();
  // SIGTERM while a stream runs and the other two wait for the slot (all three read by the server:
  // one still in the socket's backlog would rightly get 503): all three are answered in full.
  bool running = false;
  for (int i = 0; i < 2000 && !running; ++i) {
    const std::string page = request(s.port(), "GET", "/metrics").text;
    running = metric(page, "cornerstone_busy_slots") == 1 && metric(page, "cornerstone_queue_depth") == 2;
  }
  EXPECT_TRUE(running) << "the requests never ran";
  EXPECT_EQ(s.terminate(), 0) << s.output();
  for (auto& f : streams) {
    const Reply r = f.get();
    ASSERT_EQ(r.status, 200) << r.text;
    bool done = false;
    const auto events = sse_events(r.text, &done);
    EXPECT_TRUE(done) << "a stream in flight was cut off:\n" << r.text;
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back()["choices"][0]["finish_reason"], "length") << r.text;
  }
  EXPECT_NE(s.output().find("SIGTERM"), std::string::npos) << s.output();
}

// The value of a metric line "NAME VALUE" in a /metrics page (-1 when absent).

TEST_F(Serve, ClientsThatGoAwayMidStreamFreeTheirSlot) {
  ServeProcess s({"--model", slow_model(), "--parallel", "1", "--max-queue", "8"});
  // Six streamed requests whose clients hang up at once (sent while the server is stopped): each
  // is dropped at its first token's write instead of generating 240 tokens for nobody.
  s.pause();
  const std::string body = json{{"prompt", "The state"}, {"max_tokens", 240}, {"temperature", 0}, {"stream", true}}.dump();
  const std::string req = "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body;
  for (int i = 0; i < 6; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET, a.sin_port = htons(static_cast<uint16_t>(s.port())), a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
    close(fd);
  }
  s.resume();
  std::string page;
  for (int i = 0; i < 3000; ++i) {
    page = request(s.port(), "GET", "/metrics").text;
    if (metric(page, "cornerstone_cancelled_requests_total") + metric(page, "cornerstone_finished_requests_total") >= 6) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(metric(page, "cornerstone_cancelled_requests_total"), 6) << page;
  EXPECT_LT(metric(page, "cornerstone_generated_tokens_total"), 6 * 240 / 4) << page;
  EXPECT_EQ(metric(page, "cornerstone_busy_slots"), 0) << page;
  // And the server goes on answering.
  EXPECT_EQ(request(s.port(), "POST", "/v1/completions", json{{"prompt", "We"}, {"max_tokens", 2}}.dump(), "").status, 200);
}


// LoRA adapters over a served base share its weights and its scheduler: the "model" field picks
// the adapter, each request decodes with its own (in one batch with the others), and the greedy
// text equals `generate` with the adapter merged into the base.
TEST_F(Serve, LoraAdaptersOverOneBaseAnswerAsTheirMergedModels) {
  const std::string dir = *dir_ + "/adapters";
  for (const auto& [name, seed] : {std::pair<std::string, uint64_t>{"poet", 1}, {"clerk", 2}}) {
    auto m = models::load_model(model());
    adapt::LoRAConfig c;
    c.rank = name == "poet" ? 4 : 2, c.alpha = 8, c.targets = {name == "poet" ? "all-linear" : "attn"};
    adapt::apply_lora(*m, c, seed);
    Rng rng(seed + 10);
    for (auto& [n, p] : m->trainable_parameters()) p.detach().copy_from(Tensor::uniform(p.shape(), rng, -0.2f, 0.2f));
    adapt::save_peft(*m, c, dir + "/" + name, model());
  }
  ServeProcess s({"--model", model(), "--model", dir + "/poet", "--model", dir + "/clerk", "--parallel", "3"});
  const Reply models_page = request(s.port(), "GET", "/v1/models", "", "");
  ASSERT_EQ(models_page.status, 200) << models_page.text;
  std::set<std::string> ids;
  const json listed = json::parse(models_page.text);
  for (const auto& m : listed["data"]) ids.insert(m["id"].get<std::string>());
  EXPECT_EQ(ids, (std::set<std::string>{"sotu-gpt", "poet", "clerk"}));

  const std::string p = kPrompts[0];
  std::map<std::string, std::string> expected;
  for (const std::string& folder : std::vector<std::string>{model(), dir + "/poet", dir + "/clerk"}) {
    const auto cli = run_cli("generate --model " + folder + " --greedy --max-tokens 16 --prompt '" + p + "'");
    ASSERT_EQ(cli.exit_code, 0) << cli.output;
    expected[fs::path(folder).filename().string()] = cli.output.substr(p.size(), cli.output.size() - p.size() - 1);
  }
  EXPECT_NE(expected["poet"], expected["sotu-gpt"]) << "the adapter changes the output";
  EXPECT_NE(expected["clerk"], expected["sotu-gpt"]);
  // All three at once (batched together by the one scheduler), then each alone.
  auto ask = [&](const std::string& id) {
    return request(s.port(), "POST", "/v1/completions",
                   json{{"model", id}, {"prompt", p}, {"max_tokens", 16}, {"temperature", 0}}.dump(), "");
  };
  std::vector<std::future<Reply>> together;
  for (const std::string id : {"sotu-gpt", "poet", "clerk", "poet"}) together.push_back(std::async(std::launch::async, ask, id));
  const std::string order[] = {"sotu-gpt", "poet", "clerk", "poet"};
  for (size_t i = 0; i < together.size(); ++i) {
    const Reply r = together[i].get();
    ASSERT_EQ(r.status, 200) << r.text;
    EXPECT_EQ(r.body["model"], order[i]);
    EXPECT_EQ(r.body["choices"][0]["text"], expected[order[i]]) << order[i] << " in a batch";
  }
  for (const std::string id : {"poet", "clerk"}) EXPECT_EQ(ask(id).body["choices"][0]["text"], expected[id]) << id << " alone";
  // An adapter generates; it does not embed (the base's vectors would not be its own).
  const Reply e = request(s.port(), "POST", "/v1/embeddings", json{{"model", "poet"}, {"input", "a text"}}.dump(), "");
  EXPECT_EQ(e.status, 400) << e.text;
  EXPECT_EQ(s.terminate(), 0) << s.output();
}


// --stream-interval batches a request's tokens for its HTTP thread, but the first and the last go
// at once: with a 10 s interval (and 30 s keep-alive) a 24-token stream of the slow model (a few
// ms per token: the HTTP thread is waiting again when the last one comes) still ends in well under
// 5 s, whole, and its text equals the non-streamed completion's.
TEST_F(Serve, StreamIntervalBatchesTokensButNeverHoldsTheLast) {
  ServeProcess s({"--model", slow_model(), "--stream-interval", "10000", "--keep-alive", "30"});
  const json body = {{"prompt", kPrompts[1]}, {"max_tokens", 24}, {"temperature", 0}};
  const Reply plain = request(s.port(), "POST", "/v1/completions", body.dump(), "");
  ASSERT_EQ(plain.status, 200) << plain.text;
  json streamed_body = body;
  streamed_body["stream"] = true;
  const auto t0 = std::chrono::steady_clock::now();
  const Reply r = request(s.port(), "POST", "/v1/completions", streamed_body.dump(), "");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_LT(seconds, 5.0) << "the last token waited for the interval";
  bool done = false;
  std::string text;
  for (const json& e : sse_events(r.text, &done)) text += e["choices"][0]["text"].get<std::string>();
  EXPECT_TRUE(done) << r.text;
  EXPECT_EQ(text, plain.body["choices"][0]["text"].get<std::string>());
  EXPECT_EQ(s.terminate(), 0) << s.output();
}

}  // namespace
}  // namespace cornerstone::testing

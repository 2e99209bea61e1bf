// `cornerstone serve` beyond the core API: retrieval (/v1/search, chat with "retrieval"),
// response_format json_object, and real clients: the official `openai` npm client and the web
// chat page in headless chromium.
#include "serve_fixture.h"

namespace cornerstone::testing {
namespace {

TEST_F(Serve, JsonObjectResponseFormatConstrainsTheOutput) {
  const json messages = json::array({{{"role", "user"}, {"content", "Describe the Union as JSON."}}});
  int closed = 0;
  for (int seed = 0; seed < 6; ++seed) {
    const auto r = post("/v1/chat/completions", {{"messages", messages}, {"max_tokens", 60}, {"temperature", 1.0}, {"seed", seed},
                                                 {"response_format", {{"type", "json_object"}}}});
    ASSERT_EQ(r.status, 200) << r.text;
    const std::string content = r.body["choices"][0]["message"]["content"];
    ASSERT_FALSE(content.empty());
    infer::JsonPrefix p;
    EXPECT_TRUE(p.push(content)) << "not the start of a JSON object: " << content;
    if (seed == 0) std::printf("[ json_object ] seed 0: %s (%s)\n", json(content).dump().c_str(), r.body["choices"][0]["finish_reason"].dump().c_str());
    if (r.body["choices"][0]["finish_reason"] == "stop") {  // it closed: one object, nothing after it
      ++closed;
      EXPECT_TRUE(json::parse(content).is_object()) << content;
    }
  }
  // A model trained on speeches does not write JSON by itself: without the constraint its text is not.
  const auto plain = post("/v1/chat/completions", {{"messages", messages}, {"max_tokens", 20}, {"temperature", 0}});
  ASSERT_EQ(plain.status, 200);
  infer::JsonPrefix p;
  EXPECT_FALSE(p.push(plain.body["choices"][0]["message"]["content"].get<std::string>()));
  std::printf("[ json_object ] %d of 6 sampled answers closed their object within 60 tokens\n", closed);
}

TEST_F(Serve, SearchEndpointEqualsSearchCli) {
  for (const std::string mode : {"bm25", "dense", "hybrid"}) {
    const auto cli = run_cli("search --index " + index_dir() + " --query 'the army and the navy' --mode " + mode + " --k 4 --json");
    ASSERT_EQ(cli.exit_code, 0) << cli.output;
    const auto r = post("/v1/search", {{"query", "the army and the navy"}, {"mode", mode}, {"k", 4}});
    ASSERT_EQ(r.status, 200) << r.text;
    EXPECT_EQ(r.body["object"], "list");
    EXPECT_EQ(r.body["index"], "speeches");
    const json& data = r.body["data"];
    std::istringstream lines(cli.output);
    size_t i = 0;
    for (std::string line; std::getline(lines, line); ++i) {
      ASSERT_LT(i, data.size()) << mode << ": the CLI found more:\n" << cli.output;
      json hit = data[i];
      EXPECT_EQ(hit["object"], "search.result");
      hit.erase("object");
      const json expected = json::parse(line);
      EXPECT_NEAR(hit["score"].get<double>(), expected["score"].get<double>(), 1e-6) << mode;
      hit.erase("score");
      json e = expected;
      e.erase("score");
      EXPECT_EQ(hit, e) << mode << " rank " << i + 1;
    }
    EXPECT_EQ(i, data.size()) << mode;
    EXPECT_EQ(i, 4u) << mode;
  }
  expect_error(post("/v1/search", {{"k", 3}}), 400, "query");
  expect_error(post("/v1/search", {{"query", "  "}}), 400, "query");
  expect_error(post("/v1/search", {{"query", "navy"}, {"k", 0}}), 400, "k");
  expect_error(post("/v1/search", {{"query", "navy"}, {"mode", "fuzzy"}}), 400, "mode");
  expect_error(post("/v1/search", {{"query", "navy"}, {"limit", 3}}), 400, "limit");
  expect_error(post("/v1/search", {{"query", "navy"}, {"index", "wiki"}}), 404, "index", "index_not_found");
}

TEST_F(Serve, ChatWithRetrievalEqualsAskCli) {
  const std::string question = "What of the army and the navy?";
  const auto cli = run_cli("ask --index " + index_dir() + " --model " + model() + " --question '" + question +
                           "' --k 3 --mode bm25 --chat yes --greedy --max-tokens 16 --json");
  ASSERT_EQ(cli.exit_code, 0) << cli.output;
  const json a = json::parse(cli.output.substr(cli.output.find('{')));
  const json messages = json::array({{{"role", "user"}, {"content", question}}});
  const json body = {{"messages", messages}, {"max_tokens", 16}, {"temperature", 0}, {"retrieval", {{"k", 3}, {"mode", "bm25"}}}};
  const auto r = post("/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.body["choices"][0]["message"]["content"], a["answer"]);
  ASSERT_EQ(r.body["sources"].size(), a["sources"].size());
  ASSERT_GE(a["sources"].size(), 1u);
  for (size_t i = 0; i < a["sources"].size(); ++i) {
    EXPECT_EQ(r.body["sources"][i]["source"], a["sources"][i]["source"]);
    EXPECT_EQ(r.body["sources"][i]["chunk"], a["sources"][i]["chunk"]);
    EXPECT_EQ(r.body["sources"][i]["rank"], static_cast<int64_t>(i + 1));
  }
  // The prompt read the passages: more prompt tokens than the same question without retrieval.
  const auto plain = post("/v1/chat/completions", {{"messages", messages}, {"max_tokens", 16}, {"temperature", 0}});
  ASSERT_EQ(plain.status, 200) << plain.text;
  EXPECT_GT(r.body["usage"]["prompt_tokens"].get<int64_t>(), plain.body["usage"]["prompt_tokens"].get<int64_t>() + 32);
  EXPECT_FALSE(plain.body.contains("sources"));

  // Streamed: the sources come with the first chunk, the text adds up to the same answer.
  json sbody = body;
  sbody["stream"] = true;
  const auto s = post("/v1/chat/completions", sbody);
  ASSERT_EQ(s.status, 200) << s.text;
  bool done = false;
  const auto events = sse_events(s.text, &done);
  EXPECT_TRUE(done);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0]["sources"], r.body["sources"]);
  std::string text;
  for (const auto& e : events)
    if (e["choices"][0]["delta"].contains("content")) text += e["choices"][0]["delta"]["content"].get<std::string>();
  EXPECT_EQ(text, a["answer"]);

  expect_error(post("/v1/chat/completions", {{"messages", messages}, {"retrieval", {{"index", "wiki"}}}}), 404, "retrieval.index", "index_not_found");
  expect_error(post("/v1/chat/completions", {{"messages", messages}, {"retrieval", {{"k", 500}}}}), 400, "retrieval.k");
  expect_error(post("/v1/chat/completions", {{"messages", messages}, {"retrieval", "yes"}}), 400, "retrieval");
  expect_error(post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "x"}}, {{"role", "assistant"}, {"content", "y"}}}},
                                              {"retrieval", true}}),
               400, "messages");
  expect_error(post("/v1/completions", {{"prompt", "x"}, {"retrieval", true}}), 400, "retrieval");
}

TEST_F(Serve, OfficialOpenAIClient) {
  expect_node_script_passes("openai_client.mjs", "openai-node",
                            "http://127.0.0.1:" + std::to_string(server_->port()) + "/v1 " + kKey + " sotu-gpt");
}

TEST_F(Serve, WebChatPageInHeadlessChromium) {
  if (!fs::exists("/usr/bin/chromium")) GTEST_SKIP() << "chromium is not installed (scripts/setup installs it)";
  const auto page = request(server_->port(), "GET", "/", "", "");
  ASSERT_EQ(page.status, 200);
  EXPECT_NE(page.text.find("<title>Cornerstone chat</title>"), std::string::npos);
  expect_node_script_passes("chat_page.mjs", "puppeteer-core",
                            "http://127.0.0.1:" + std::to_string(server_->port()) + " " + kKey + " sotu-gpt");
}


}  // namespace
}  // namespace cornerstone::testing

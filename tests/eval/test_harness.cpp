// The task harness: log-likelihood scoring against PyTorch's logits of the same model, the
// multiple-choice and exact-match metrics on a scripted model, few-shot prompts that are a pure
// function of the seed, task files checked line by line, and `evaluate --tasks` end to end.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "cornerstone/core/error.h"
#include "cornerstone/eval/harness.h"
#include "cornerstone/io/atomic_file.h"
#include "cli.h"
#include "oracle.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;
namespace fs = std::filesystem;

namespace {

constexpr const char* kCorpus = "What is 47 + 85? Answer: 132. What is 9 * 7? Answer: 63. 0123456789 + - *";

// A model whose answers are scripted: log-likelihood by continuation text, generations by prompt suffix.
class ScriptedModel : public eval::HarnessModel {
 public:
  std::map<std::string, eval::LogLikelihood> scores;
  std::map<std::string, std::string> replies;  // the prompt's last question -> reply
  std::vector<std::string> prompts_seen;
  std::vector<eval::LogLikelihood> loglikelihood(const std::vector<std::pair<std::string, std::string>>& r) override {
    std::vector<eval::LogLikelihood> out;
    for (const auto& [ctx, cont] : r) out.push_back(scores.at(cont));
    return out;
  }
  std::vector<std::string> generate(const std::vector<std::string>& prompts, const std::vector<std::string>&, int64_t) override {
    std::vector<std::string> out;
    for (const auto& p : prompts) {
      prompts_seen.push_back(p);
      out.push_back(replies.at(p.substr(p.rfind("What"))));
    }
    return out;
  }
};

}  // namespace

TEST(Harness, LogLikelihoodEqualsTheSumOfPyTorchLogSoftmaxOverTheContinuation) {
  const std::string dir = fresh_temp_dir("harness_ll");
  const TinyDecoder t = save_tiny_decoder(dir, kCorpus, 11, /*init_std=*/0.2f);  // far from uniform predictions, so the scores differ
  const auto& tok = t.tokenizer;
  eval::CausalLMHarnessModel lm(t.model, tok, std::nullopt, /*batch=*/2);
  const std::vector<std::pair<std::string, std::string>> requests = {
      {"What is 47 + 85?", " Answer: 132"}, {"What is 9 * 7? Answer:", " 63"}, {"What is 9 * 7?", " Answer: 64"}};
  const auto got = lm.loglikelihood(requests);  // two batches, the first padded
  ASSERT_EQ(got.size(), 3u);
  for (size_t r = 0; r < requests.size(); ++r) {
    const auto ctx = tok.encode(requests[r].first), cont = tok.encode(requests[r].second);
    std::vector<int32_t> ids = ctx;
    ids.insert(ids.end(), cont.begin(), cont.end());
    const int64_t T = static_cast<int64_t>(ids.size());
    const Tensor x = Tensor::from_data({1, T}, ids);
    const auto ref = Oracle::instance().run("decoder_model", {x, x}, {{"dir", dir}, {"names", nlohmann::json::array()}});
    const Tensor logits = ref.outputs[1];  // (1, T, V)
    const int64_t V = logits.size(2);
    const float* l = logits.data<float>();
    double expected = 0;
    bool greedy = true;
    for (size_t i = ctx.size(); i < ids.size(); ++i) {
      const float* row = l + (static_cast<int64_t>(i) - 1) * V;
      double mx = row[0], sum = 0;
      int64_t arg = 0;
      for (int64_t v = 0; v < V; ++v)
        if (row[v] > mx) mx = row[v], arg = v;
      for (int64_t v = 0; v < V; ++v) sum += std::exp(row[v] - mx);
      expected += row[ids[i]] - mx - std::log(sum);
      greedy = greedy && arg == ids[i];
    }
    EXPECT_NEAR(got[r].logprob, expected, 1e-4 * std::abs(expected) + 1e-4) << r;
    EXPECT_EQ(got[r].tokens, static_cast<int64_t>(cont.size()));
    EXPECT_EQ(got[r].greedy, greedy);
  }
  EXPECT_NE(got[0].logprob, got[2].logprob);
  fs::remove_all(dir);
}

TEST(Harness, MultipleChoiceAccuracyAndLengthNormalisedAccuracy) {
  eval::HarnessTask t;
  t.name = "mc";
  t.kind = eval::HarnessKind::MultipleChoice;
  // Doc 0: the gold long choice has the lower total (-8 < -5) but the higher score per byte
  // (-8/20 > -5/5); doc 1: gold wins both.
  t.docs.push_back({"Q0", {"short", "a much longer choice"}, 1, "", "", 1});
  t.docs.push_back({"Q1", {"yes", "no"}, 0, "", "", 2});
  ScriptedModel m;
  m.scores[" short"] = {-5.0, 2, false};
  m.scores[" a much longer choice"] = {-8.0, 5, false};
  m.scores[" yes"] = {-1.0, 1, true};
  m.scores[" no"] = {-3.0, 1, false};
  const auto r = eval::run_harness_task(m, t, {});
  EXPECT_EQ(r.documents, 2);
  EXPECT_DOUBLE_EQ(r.acc, 0.5);       // doc 0: the short choice by total log-probability
  EXPECT_DOUBLE_EQ(r.acc_norm, 1.0);  // doc 0: the long one per byte
}

TEST(Harness, GenerationExactMatchReadsTheAnswerAfterTheLastMarker) {
  EXPECT_EQ(eval::extract_answer(" 7 + 5 = 12, write 2 carry 1.\nAnswer: 132", "Answer:"), "132");
  EXPECT_EQ(eval::extract_answer(" Answer: 1. Answer: 132.\n\nmore", "Answer:"), "132");
  EXPECT_EQ(eval::extract_answer(" 132\nWhat is", "Answer:"), "132");  // no marker: the first line
  eval::HarnessTask t;
  t.name = "gen";
  for (int i = 0; i < 4; ++i) t.docs.push_back({"What is " + std::to_string(i) + "?", {}, -1, std::to_string(i), "", i + 1});
  ScriptedModel m;
  m.replies = {{"What is 0?", " steps\nAnswer: 0"}, {"What is 1?", " Answer: 7"}, {"What is 2?", " 2"}, {"What is 3?", " Answer: 3."}};
  eval::HarnessOptions o;
  o.shots = 2;
  const auto r = eval::run_harness_task(m, t, o);
  EXPECT_DOUBLE_EQ(r.exact_match, 0.75);
  // Two-shot prompts: two other documents with their answers, then the question; the same seed draws the same shots.
  ASSERT_EQ(m.prompts_seen.size(), 4u);
  const std::string& p0 = m.prompts_seen[0];
  EXPECT_EQ(p0.find("What is 0?"), p0.size() - std::string("What is 0?").size()) << "the document's own question comes last, once";
  EXPECT_EQ(std::count(p0.begin(), p0.end(), '?'), 3);
  EXPECT_EQ(eval::harness_prompt(t, 0, o, std::nullopt), p0);
  o.seed = 99;
  bool any_differs = false;
  for (size_t i = 0; i < 4; ++i) any_differs = any_differs || eval::harness_prompt(t, i, o, std::nullopt) != m.prompts_seen[i];
  EXPECT_TRUE(any_differs) << "another seed draws other shots";
  o.shots = 4;
  EXPECT_THROW(eval::harness_prompt(t, 0, o, std::nullopt), ValueError);  // only 3 others
}

TEST(Harness, TaskFilesAreCheckedLineByLine) {
  const std::string dir = fresh_temp_dir("harness_files");
  auto expect_error = [&](const std::string& text, const std::string& what) {
    EXPECT_TRUE(file_is_refused(dir + "/t.jsonl", text, [](const std::string& p) { eval::read_harness_task(p); }, what));
  };
  expect_error("", "has no documents");
  expect_error("{\"prompt\": \"q\", \"answer\": \"1\"}\n[1]\n", "t.jsonl:2: not a JSON object");
  expect_error("{\"prompt\": \"q\"}\n", "t.jsonl:1: missing \"answer\"");
  expect_error("{\"context\": \"q\", \"choices\": [\"a\", \"b\"], \"gold\": 2}\n", "t.jsonl:1: \"gold\" is 2");
  expect_error("{\"context\": \"q\", \"choices\": [\"a\", \"b\"], \"gold\": \"a\"}\n", "\"gold\" must be an integer");
  expect_error("{\"context\": \"q\", \"choices\": [\"a\", \"b\"], \"gold\": 0}\n{\"prompt\": \"q\", \"answer\": \"1\"}\n",
               "t.jsonl:2: a generation document");
  EXPECT_THROW(eval::harness_task("no-such-task"), ValueError);
  EXPECT_EQ(eval::harness_task("arithmetic-choice").docs.size(), 200u);
  fs::remove_all(dir);
}

TEST(Harness, EvaluateTasksThroughTheCli) {
  const std::string dir = fresh_temp_dir("harness_cli");
  save_tiny_decoder(dir + "/model", kCorpus, 11);
  io::write_file_atomic(dir + "/mine.jsonl", "{\"context\": \"What is 1 + 1?\", \"choices\": [\"Answer: 2\", \"Answer: 3\"], \"gold\": 0}\n"
                                             "{\"context\": \"What is 2 + 1?\", \"choices\": [\"Answer: 2\", \"Answer: 3\"], \"gold\": 1}\n");
  const auto r = run_cli("--threads 1 evaluate --model " + dir + "/model --tasks " + dir + "/mine.jsonl,arithmetic --limit 3 --shots 1 "
                         "--max-new-tokens 4 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(j["results"]["mine"]["documents"], 2);
  EXPECT_TRUE(j["results"]["mine"].contains("acc_norm"));
  EXPECT_EQ(j["results"]["arithmetic"]["documents"], 3);
  EXPECT_TRUE(j["results"]["arithmetic"].contains("exact_match"));
  EXPECT_EQ(j["config"]["shots"], 1);
  const auto bad = run_cli("evaluate --model " + dir + "/model --tasks " + dir + "/missing.jsonl");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("missing.jsonl"), std::string::npos) << bad.output;
  const auto help = run_cli("evaluate --help");
  EXPECT_NE(help.output.find("--tasks"), std::string::npos);
  fs::remove_all(dir);
}

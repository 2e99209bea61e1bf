// Preference pairs from a model's own samples (adapt/self_pairs.h, `cornerstone sample`): a
// scripted sampler checks the grading, the pairing rules (right vs wrong, distinct texts, none
// from problems always or never solved, at most pairs_per_prompt, reproducible by seed) and the
// seeds each call gets; the CLI on a tiny random decoder with a regex reward writes pairs whose
// chosen side matches and rejected side does not, and refuses what it cannot use.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include "cornerstone/adapt/self_pairs.h"
#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"
#include "cli.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;

namespace {

// Answers "Answer: <n>" from a script per prompt, cycling; records the seeds it was called with.
struct ScriptedSampler {
  std::map<std::string, std::vector<std::string>> script;
  std::map<std::string, size_t> next;
  std::vector<std::pair<size_t, uint64_t>> calls;  // (prompts, seed)

  std::vector<std::string> operator()(const std::vector<std::string>& prompts, uint64_t seed) {
    calls.emplace_back(prompts.size(), seed);
    std::vector<std::string> out;
    for (const auto& p : prompts) {
      const auto& s = script.at(p);
      out.push_back("steps...\nAnswer: " + s[next[p]++ % s.size()]);
    }
    return out;
  }
};

std::vector<adapt::AnswerExample> problems() {
  return {{"always", "1", 1}, {"never", "2", 2}, {"mixed", "3", 3}, {"twice", "4", 4}};
}

}  // namespace

TEST(SelfPairs, GradesEveryCompletionAndPairsOnlyMixedProblems) {
  ScriptedSampler s;
  s.script = {{"always", {"1"}}, {"never", {"9", "8"}}, {"mixed", {"3", "5", "3", "6"}}, {"twice", {"4", "7", "7", "7"}}};
  adapt::SelfPairOptions o;
  o.samples = 4;
  o.batch = 3;
  o.seed = 10;
  const auto graded = adapt::sample_and_grade(problems(), std::ref(s), o);
  ASSERT_EQ(graded.size(), 4u);
  // Two calls (3 + 1 problems), each 4 completions per problem, seeds past the previous call's.
  ASSERT_EQ(s.calls.size(), 2u);
  EXPECT_EQ(s.calls[0], (std::pair<size_t, uint64_t>{12, 10}));
  EXPECT_EQ(s.calls[1], (std::pair<size_t, uint64_t>{4, 10 + 12}));
  EXPECT_EQ(graded[2].rewards, (std::vector<float>{1, 0, 1, 0}));
  EXPECT_EQ(graded[0].rewards, (std::vector<float>{1, 1, 1, 1}));

  o.pairs_per_prompt = 10;
  adapt::SelfPairSummary sum;
  const auto pairs = adapt::self_preference_pairs(graded, o, &sum);
  // "mixed": 1 distinct right x 2 distinct wrong; "twice": 1 x 1 (the repeated "7" counts once).
  ASSERT_EQ(pairs.size(), 3u);
  std::set<std::string> rejected_mixed;
  for (const auto& p : pairs) {
    EXPECT_TRUE(p.prompt == "mixed" || p.prompt == "twice") << p.prompt;
    EXPECT_EQ(p.chosen, "steps...\nAnswer: " + std::string(p.prompt == "mixed" ? "3" : "4"));
    EXPECT_NE(p.rejected, p.chosen);
    if (p.prompt == "mixed") rejected_mixed.insert(p.rejected);
  }
  EXPECT_EQ(rejected_mixed, (std::set<std::string>{"steps...\nAnswer: 5", "steps...\nAnswer: 6"}));
  EXPECT_EQ(sum.problems, 4);
  EXPECT_EQ(sum.completions, 16);
  EXPECT_DOUBLE_EQ(sum.mean_reward, (4 + 0 + 2 + 1) / 16.0);
  EXPECT_DOUBLE_EQ(sum.pass_at_k, 3 / 4.0);
  EXPECT_EQ(sum.mixed_problems, 2);
  EXPECT_EQ(sum.pairs, 3);

  // One pair per problem by default, drawn by the seed: the same seed, the same pairs.
  o.pairs_per_prompt = 1;
  const auto one = adapt::self_preference_pairs(graded, o);
  ASSERT_EQ(one.size(), 2u);
  EXPECT_EQ(adapt::preference_pairs_jsonl(one), adapt::preference_pairs_jsonl(adapt::self_preference_pairs(graded, o)));
  std::set<std::string> drawn;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    o.seed = seed;
    drawn.insert(adapt::self_preference_pairs(graded, o)[0].rejected);
  }
  EXPECT_EQ(drawn.size(), 2u) << "over seeds, both wrong completions of \"mixed\" get drawn";
}

TEST(SelfPairs, WritesTrlPairsAndGradedLinesAndRefusesBadOptions) {
  const std::vector<adapt::PreferencePair> pairs{{"What is 1 + 1?", "Answer: 2", "Answer: \xff", 1}};
  const auto line = nlohmann::json::parse(adapt::preference_pairs_jsonl(pairs));
  EXPECT_EQ(line["prompt"], "What is 1 + 1?");
  EXPECT_EQ(line["chosen"], "Answer: 2");
  EXPECT_EQ(line["rejected"], "Answer: \xEF\xBF\xBD") << "a byte that is not UTF-8 is replaced, not fatal";
  const auto g = nlohmann::json::parse(adapt::graded_problems_jsonl({{"p", "2", {"Answer: 2", "Answer: 3"}, {1, 0}}}));
  EXPECT_EQ(g["completions"].size(), 2u);
  EXPECT_EQ(g["rewards"][1], 0.0);

  adapt::SelfPairOptions o;
  o.samples = 1;
  EXPECT_THROW(o.validate(), ValueError);
  o.samples = 4;
  o.reward = "closest";
  EXPECT_THROW(o.validate(), ValueError);
  o.reward = "regex";
  const auto bad_regex = [&] {
    adapt::sample_and_grade({{"p", "4(2", 7}}, [](const std::vector<std::string>& p, uint64_t) { return p; }, o);
  };
  try {
    bad_regex();
    FAIL() << "a regex answer that does not compile is refused before sampling";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("line 7"), std::string::npos) << e.what();
  }
}

TEST(SelfPairs, SampleCommandWritesPairsThatTheRewardSeparates) {
  const std::string dir = fresh_temp_dir("self_pairs_cli");
  save_tiny_decoder(dir + "/base", "abcdefghijklmnopqrstuvwxyz 0123456789", 3, 0.5f);
  // A random model's text, graded by a regex on its first character: about half right.
  std::string data;
  for (int i = 0; i < 6; ++i) data += nlohmann::json{{"prompt", "Say something " + std::to_string(i)}, {"answer", "[a-m].*"}}.dump() + "\n";
  io::write_file_atomic(dir + "/problems.jsonl", data);
  const std::string common = "--threads 1 sample --model " + dir + "/base --data " + dir + "/problems.jsonl --reward regex --marker '' "
                             "--samples 6 --max-new-tokens 4 --pairs-per-prompt 2";
  const auto r = run_cli(common + " --out " + dir + "/pairs.jsonl --graded-out " + dir + "/graded.jsonl");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("6 problems x 6 samples"), std::string::npos) << r.output;
  const auto pairs = read_jsonl(dir + "/pairs.jsonl");
  ASSERT_FALSE(pairs.empty()) << r.output;
  const std::regex right("[a-m].*");
  const auto first_line_trimmed = [](std::string s) {
    s = s.substr(0, s.find('\n'));
    const size_t a = s.find_first_not_of(" \t\r");
    return a == std::string::npos ? std::string() : s.substr(a, s.find_last_not_of(" \t\r") + 1 - a);
  };
  // Completions that are not UTF-8 are written with U+FFFD in place of the bad bytes, and the
  // regex reward matches no such text.
  const std::string replacement = "\xEF\xBF\xBD";
  for (const auto& p : pairs) {
    EXPECT_LE(p.size(), 3u);
    std::string chosen = first_line_trimmed(p["chosen"]), rejected = first_line_trimmed(p["rejected"]);
    if (!chosen.empty() && chosen.back() == '.') chosen.pop_back();
    if (!rejected.empty() && rejected.back() == '.') rejected.pop_back();
    EXPECT_TRUE(std::regex_match(chosen, right) && chosen.find(replacement) == std::string::npos) << chosen;
    EXPECT_TRUE(!std::regex_match(rejected, right) || p["rejected"].get<std::string>().find(replacement) != std::string::npos) << rejected;
  }
  EXPECT_LE(pairs.size(), 12u);
  const auto graded = read_jsonl(dir + "/graded.jsonl");
  ASSERT_EQ(graded.size(), 6u);
  for (const auto& g : graded) EXPECT_EQ(g["completions"].size(), 6u);
  // The same seed samples the same completions.
  ASSERT_EQ(run_cli(common + " --out " + dir + "/again.jsonl").exit_code, 0);
  EXPECT_EQ(io::read_file(dir + "/again.jsonl"), io::read_file(dir + "/pairs.jsonl"));

  // What it cannot use is refused, naming the problem; no pairs file is left behind.
  const auto none = run_cli("--threads 1 sample --model " + dir + "/base --data " + dir + "/problems.jsonl --reward regex --marker '' "
                            "--samples 2 --max-new-tokens 2 --temperature 0 --out " + dir + "/none.jsonl");
  EXPECT_NE(none.exit_code, 0);
  EXPECT_NE(none.output.find("--temperature"), std::string::npos) << none.output;
  io::write_file_atomic(dir + "/all-right.jsonl", "{\"prompt\": \"x\", \"answer\": \"(?s).*\"}\n");
  const auto all = run_cli("--threads 1 sample --model " + dir + "/base --data " + dir + "/all-right.jsonl --reward regex --marker '' "
                           "--samples 3 --max-new-tokens 2 --out " + dir + "/all.jsonl");
  EXPECT_NE(all.exit_code, 0);
  EXPECT_NE(all.output.find("no pairs"), std::string::npos) << all.output;
  EXPECT_FALSE(std::filesystem::exists(dir + "/all.jsonl"));
  EXPECT_NE(run_cli("sample --help").output.find("--pairs-per-prompt"), std::string::npos);
}

// GRPO: group-normalised advantages and the exact-match reward against direct computations, and
// `finetune --task grpo` through the CLI on a tiny model (full and LoRA): every step logs its
// rewards, KL and the split of its time into sampling and training, validation scores greedy
// answers, the result generates, and bad input is refused with the file, line and field. The
// regex reward and rewards from a reward-model folder.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "cornerstone/adapt/grpo.h"
#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"
#include "cli.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;
namespace fs = std::filesystem;

TEST(Grpo, AdvantagesAreRewardsNormalisedWithinEachGroup) {
  const std::vector<float> r = {1, 0, 0, 1, 0.5f, 0.5f, 0.5f, 0.5f, 3, 0, 0, 0};
  const auto a = adapt::group_advantages(r, 4);
  ASSERT_EQ(a.size(), r.size());
  for (size_t g = 0; g < 3; ++g) {
    double mean = 0, var = 0;
    for (size_t i = 4 * g; i < 4 * g + 4; ++i) mean += r[i] / 4.0;
    for (size_t i = 4 * g; i < 4 * g + 4; ++i) var += (r[i] - mean) * (r[i] - mean) / 3.0;  // unbiased, as torch.std
    for (size_t i = 4 * g; i < 4 * g + 4; ++i) EXPECT_NEAR(a[i], (r[i] - mean) / (std::sqrt(var) + 1e-4), 1e-5) << i;
  }
  EXPECT_NEAR(a[0], 0.8659, 1e-3);
  for (size_t i = 4; i < 8; ++i) EXPECT_EQ(a[i], 0.0f) << "equal rewards teach nothing";
  EXPECT_THROW(adapt::group_advantages({1, 0, 1}, 2), ValueError);
  EXPECT_THROW(adapt::group_advantages({1, 0}, 1), ValueError);
}

// The KL penalty keeps its scale: centred within each group, not normalised with the rewards, so
// a group of equal rewards gets small advantages (kl x its KL's spread), not unit-sized noise.
TEST(Grpo, KlPenaltyIsCentredNotNormalised) {
  const std::vector<float> r = {1, 0, 0, 1, 0, 0, 0, 0};
  const std::vector<double> kl = {0.5, 0.1, 0.2, 0.4, 0.3, 0.1, 0.2, 0.2};
  const auto a = adapt::grpo_advantages(r, kl, 4, 0.04f);
  const auto base = adapt::group_advantages(r, 4);
  for (size_t g = 0; g < 2; ++g) {
    double mean = 0;
    for (size_t i = 4 * g; i < 4 * g + 4; ++i) mean += kl[i] / 4.0;
    for (size_t i = 4 * g; i < 4 * g + 4; ++i) EXPECT_NEAR(a[i], base[i] - 0.04 * (kl[i] - mean), 1e-6) << i;
  }
  for (size_t i = 4; i < 8; ++i) EXPECT_LT(std::fabs(a[i]), 0.01f) << "equal rewards: only the small KL term";
  EXPECT_EQ(adapt::grpo_advantages(r, kl, 4, 0.0f), base);
  EXPECT_THROW(adapt::grpo_advantages(r, {0.1}, 4, 0.04f), ValueError);
}

TEST(Grpo, InformativeGroupsAreThoseWhoseRewardsDiffer) {
  const std::vector<float> r = {0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0.5f, 0.25f, 0.5f, 0.5f};
  EXPECT_EQ(adapt::informative_groups(r, 4), (std::vector<int64_t>{0, 12}));
  EXPECT_EQ(adapt::informative_groups(r, 8), (std::vector<int64_t>{0, 8}));
  EXPECT_TRUE(adapt::informative_groups(std::vector<float>(8, 1.0f), 2).empty());
  EXPECT_THROW(adapt::informative_groups(r, 3), ValueError);
}

TEST(Grpo, SkipEqualGroupsTrainsOnlyTheGroupsThatDiffer) {
  const std::string dir = fresh_temp_dir("grpo_skip");
  save_tiny_decoder(dir + "/base", "User: What is 47 + 85?\n\nAssistant: Answer: 132 0123456789 + - * carry write", 5);
  ASSERT_EQ(run_cli("dataset arithmetic --out " + dir + "/data --count 40 --ops add --max-digits 1 --val-fraction 0.1 --test-fraction 0.1").exit_code, 0);
  const std::string data = " --train " + dir + "/data/train.answers.jsonl --val " + dir + "/data/val.answers.jsonl";
  // --steps 5 over 4 batches a pass: the run goes into a second epoch for its fifth step.
  const auto r = run_cli("--threads 1 finetune --model " + dir + "/base --task grpo --group 4 --max-new-tokens 6 --steps 5 --batch 8" +
                         " --skip-equal-groups" + data + " --out " + dir + "/grpo");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  int64_t steps = 0, unrewarded = 0;
  for (const auto& l : read_jsonl(dir + "/grpo/metrics.jsonl")) {
    if (!l.contains("grpo/trained_rows")) continue;
    ++steps;
    const double rows = l["grpo/trained_rows"].get<double>(), reward = l["grpo/reward"].get<double>();
    EXPECT_GE(rows, 0.0);
    EXPECT_LE(rows, 1.0);
    if (reward == 0.0) {  // every group's rewards equal: nothing trains
      ++unrewarded;
      EXPECT_EQ(rows, 0.0) << l.dump();
      EXPECT_FALSE(l.contains("grpo/kl")) << "no row went through the reference";
    }
    if (reward == 1.0) {  // every answer right: nothing to learn either
      EXPECT_EQ(rows, 0.0) << l.dump();
    }
  }
  EXPECT_EQ(steps, 5);
  EXPECT_GT(unrewarded, 0) << "an untrained model answers nothing right in some step";
  EXPECT_EQ(nlohmann::json::parse(io::read_file(dir + "/grpo/task.json"))["grpo"]["skip_equal_groups"], true);
  const auto both = run_cli("finetune --model " + dir + "/base --task grpo --steps 5 --time 1m" + data + " --out " + dir + "/t");
  EXPECT_NE(both.exit_code, 0);
  EXPECT_NE(both.output.find("--steps and --time are alternatives"), std::string::npos) << both.output;
  // Only GRPO compares a group's rewards.
  const auto ppo = run_cli("--threads 1 finetune --model " + dir + "/base --task ppo --skip-equal-groups" + data + " --out " + dir + "/ppo");
  EXPECT_NE(ppo.exit_code, 0);
  EXPECT_NE(ppo.output.find("--skip-equal-groups is for --task grpo"), std::string::npos) << ppo.output;
  fs::remove_all(dir);
}

TEST(Grpo, ExactMatchRewardReadsTheAnswerAfterTheMarker) {
  EXPECT_EQ(adapt::verifiable_reward("exact-match", " 4 + 5 = 9, write 9.\nAnswer: 59", "59", "Answer:"), 1.0f);
  EXPECT_EQ(adapt::verifiable_reward("exact-match", " Answer: 58", "59", "Answer:"), 0.0f);
  EXPECT_EQ(adapt::verifiable_reward("exact-match", "", "59", "Answer:"), 0.0f);
  EXPECT_THROW(adapt::verifiable_reward("close-enough", "", "", "Answer:"), ValueError);
  adapt::GrpoOptions o;
  o.group = 1;
  EXPECT_THROW(o.validate(), ValueError);
}

TEST(Grpo, RegexRewardMatchesTheWholeAnswer) {
  const std::string p = "42(\\.0+)?";
  EXPECT_EQ(adapt::verifiable_reward("regex", "6 x 7 = 42\nAnswer: 42", p, "Answer:"), 1.0f);
  EXPECT_EQ(adapt::verifiable_reward("regex", "Answer: 42.00", p, "Answer:"), 1.0f);
  EXPECT_EQ(adapt::verifiable_reward("regex", "Answer: 421", p, "Answer:"), 0.0f) << "a prefix is not a match";
  EXPECT_EQ(adapt::verifiable_reward("regex", "Answer: x42", p, "Answer:"), 0.0f) << "nor a suffix";
  EXPECT_EQ(adapt::verifiable_reward("regex", "Answer: été", "\\p{L}+", "Answer:"), 1.0f) << "UTF-8 with Unicode properties";
  // Sampled bytes need not be UTF-8 (a byte-level model can split a character): such an answer
  // matches nothing, rather than the pattern matching after the bad bytes.
  EXPECT_EQ(adapt::verifiable_reward("regex", "Answer: 0\xffijkl", "[a-m].*", "Answer:"), 0.0f);
  EXPECT_EQ(adapt::verifiable_reward("regex", "Answer: \xc3ijkl", "[a-m].*", "Answer:"), 0.0f);
  EXPECT_EQ(adapt::verifiable_reward("regex", "Answer: ijkl\xff", "[a-m].*", "Answer:"), 0.0f);
  try {
    adapt::check_reward_answer("regex", "4(2", "data.jsonl:3");
    ADD_FAILURE() << "a pattern that does not compile is refused";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("data.jsonl:3: the answer pattern '4(2' does not compile"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(adapt::check_reward_answer("exact-match", "4(2", "data.jsonl:3"));
}

TEST(Grpo, FineTunesThroughTheCliLoggingSamplingAndTrainingTime) {
  const std::string dir = fresh_temp_dir("grpo_cli");
  save_tiny_decoder(dir + "/base", "User: What is 47 + 85?\n\nAssistant: Answer: 132 0123456789 + - * carry write", 5);
  ASSERT_EQ(run_cli("dataset arithmetic --out " + dir + "/data --count 40 --ops add --max-digits 1 --val-fraction 0.1 --test-fraction 0.1").exit_code, 0);
  const std::string data = " --train " + dir + "/data/train.answers.jsonl --val " + dir + "/data/val.answers.jsonl";
  for (const std::string mode : {"", " --lora-rank 4 --lora-targets all-linear"}) {
    SCOPED_TRACE(mode.empty() ? "full" : "lora");
    const std::string out = dir + (mode.empty() ? "/grpo" : "/grpo-lora");
    const auto r = run_cli("--threads 1 finetune --model " + dir + "/base --task grpo --group 4 --max-new-tokens 6 --epochs 1 --batch 8" +
                           mode + data + " --out " + out);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("validation: exact match"), std::string::npos) << r.output;
    int64_t steps = 0;
    for (const auto& l : read_jsonl(out + "/metrics.jsonl")) {
      if (!l.contains("grpo/sample_s")) continue;
      ++steps;
      EXPECT_GE(l["grpo/reward"].get<double>(), 0.0);
      EXPECT_LE(l["grpo/reward"].get<double>(), 1.0);
      EXPECT_TRUE(l.contains("grpo/kl"));
      EXPECT_GT(l["grpo/completion_tokens"].get<double>(), 0.0);
      EXPECT_GT(l["grpo/sample_s"].get<double>(), 0.0);
      EXPECT_LT(l["grpo/sample_s"].get<double>(), l["step_s"].get<double>()) << "sampling is part of the step";
    }
    EXPECT_EQ(steps, 4) << "32 prompts, 8 per step";
    const auto j = nlohmann::json::parse(io::read_file(out + "/task.json"));
    EXPECT_EQ(j["task"], "grpo");
    EXPECT_EQ(j["grpo"]["group"], 4);
    const auto g = run_cli("--threads 1 generate --model " + out + " --prompt 'What is 1 + 2?' --max-tokens 4");
    EXPECT_EQ(g.exit_code, 0) << g.output;
    const auto e = run_cli("--threads 1 evaluate --model " + out + " --data " + dir + "/data/test.answers.jsonl --json");
    ASSERT_EQ(e.exit_code, 0) << e.output;
    EXPECT_EQ(nlohmann::json::parse(e.output.substr(e.output.find('{')))["documents"], 4);
  }
  io::write_file_atomic(dir + "/bad.jsonl", "{\"prompt\": \"What is 1 + 1?\", \"answer\": \"2\"}\n{\"prompt\": \"What is 2 + 2?\"}\n");
  const auto bad = run_cli("--threads 1 finetune --model " + dir + "/base --task grpo --train " + dir + "/bad.jsonl --out " + dir + "/x");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("bad.jsonl:2: missing \"answer\""), std::string::npos) << bad.output;
  EXPECT_NE(run_cli("finetune --model " + dir + "/base --task grpo --group 1" + data + " --out " + dir + "/y").exit_code, 0);
  EXPECT_NE(run_cli("finetune --help").output.find("--group"), std::string::npos);
  // A regex answer that does not compile is refused when the data is read, naming the line.
  io::write_file_atomic(dir + "/bad-regex.jsonl", "{\"prompt\": \"What is 1 + 1?\", \"answer\": \"2|(\"}\n");
  const auto re = run_cli("--threads 1 finetune --model " + dir + "/base --task grpo --reward regex --train " + dir + "/bad-regex.jsonl --out " +
                          dir + "/z");
  EXPECT_NE(re.exit_code, 0);
  EXPECT_NE(re.output.find("bad-regex.jsonl:1: the answer pattern"), std::string::npos) << re.output;

  // Rewards from a reward model: a `finetune --task reward` folder scores each (prompt, completion).
  std::string pairs;
  for (int i = 0; i < 16; ++i)
    pairs += nlohmann::json{{"prompt", "What is " + std::to_string(i) + " + 1?"}, {"chosen", "Answer: " + std::to_string(i + 1)},
                            {"rejected", "Answer: carry"}}.dump() + "\n";
  io::write_file_atomic(dir + "/pairs.jsonl", pairs);
  ASSERT_EQ(run_cli("--threads 1 finetune --model " + dir + "/base --task reward --train " + dir + "/pairs.jsonl --epochs 2 --batch 8 --out " +
                    dir + "/rm").exit_code, 0);
  const auto rm = run_cli("--threads 1 finetune --model " + dir + "/base --task grpo --group 4 --max-new-tokens 6 --epochs 1 --batch 8" + data +
                          " --reward-model " + dir + "/rm --out " + dir + "/grpo-rm");
  ASSERT_EQ(rm.exit_code, 0) << rm.output;
  int64_t fractional = 0, steps = 0;
  for (const auto& l : read_jsonl(dir + "/grpo-rm/metrics.jsonl")) {
    if (!l.contains("grpo/reward")) continue;
    ++steps;
    const double r = l["grpo/reward"].get<double>();
    fractional += r != std::round(r);  // scores, not 0 / 1 matches
  }
  EXPECT_EQ(steps, 4);
  EXPECT_GT(fractional, 0);
  EXPECT_EQ(nlohmann::json::parse(io::read_file(dir + "/grpo-rm/task.json"))["grpo"]["reward_model"], dir + "/rm");
  // A folder of another task, or none, is refused naming it.
  auto wrong = run_cli("--threads 1 finetune --model " + dir + "/base --task grpo" + data + " --reward-model " + dir + "/grpo --out " + dir + "/w1");
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_NE(wrong.output.find("is a grpo model, not a reward model"), std::string::npos) << wrong.output;
  wrong = run_cli("--threads 1 finetune --model " + dir + "/base --task grpo" + data + " --reward-model " + dir + "/nothing --out " + dir + "/w2");
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_NE(wrong.output.find("is not a finished `finetune --task reward` folder"), std::string::npos) << wrong.output;
  fs::remove_all(dir);
}

// GRPO: group-normalised advantages and the exact-match reward against direct computations, and
// `finetune --task grpo` through the CLI on a tiny model (full and LoRA): every step logs its
// rewards, KL and the split of its time into sampling and training, validation scores greedy
// answers, the result generates, and bad input is refused with the file, line and field.
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

TEST(Grpo, ExactMatchRewardReadsTheAnswerAfterTheMarker) {
  EXPECT_EQ(adapt::verifiable_reward("exact-match", " 4 + 5 = 9, write 9.\nAnswer: 59", "59", "Answer:"), 1.0f);
  EXPECT_EQ(adapt::verifiable_reward("exact-match", " Answer: 58", "59", "Answer:"), 0.0f);
  EXPECT_EQ(adapt::verifiable_reward("exact-match", "", "59", "Answer:"), 0.0f);
  EXPECT_THROW(adapt::verifiable_reward("regex", "", "", "Answer:"), ValueError);
  adapt::GrpoOptions o;
  o.group = 1;
  EXPECT_THROW(o.validate(), ValueError);
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
  fs::remove_all(dir);
}

// `finetune --task ppo` through the CLI on a tiny decoder (full and LoRA): every rollout trains
// --ppo-epochs steps (sampling only in the first, whose ratio is exactly 1, so nothing is
// clipped), each step logs the rollout's reward and KL and its own policy / value losses, the
// value head is saved beside the policy under TRL's names and reloads, the folder generates and
// evaluates; bad options are refused naming the option. (Resuming inside a rollout:
// test_preference.cpp.)
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "cornerstone/adapt/task_model.h"
#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/safetensors.h"
#include "cli.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;
namespace fs = std::filesystem;

TEST(PpoTask, FineTunesWithAValueHeadThroughTheCli) {
  const std::string dir = fresh_temp_dir("ppo_cli");
  save_tiny_decoder(dir + "/base", "User: What is 47 + 85?\n\nAssistant: Answer: 132 0123456789 + - * carry write", 5);
  ASSERT_EQ(run_cli("dataset arithmetic --out " + dir + "/data --count 40 --ops add --max-digits 1 --val-fraction 0.1 --test-fraction 0.1").exit_code, 0);
  const std::string data = " --train " + dir + "/data/train.answers.jsonl --val " + dir + "/data/val.answers.jsonl";
  for (const std::string mode : {"", " --lora-rank 4 --lora-targets all-linear"}) {
    SCOPED_TRACE(mode.empty() ? "full" : "lora");
    const std::string out = dir + (mode.empty() ? "/ppo" : "/ppo-lora");
    const auto r = run_cli("--threads 1 finetune --model " + dir + "/base --task ppo --group 2 --ppo-epochs 3 --max-new-tokens 6 --epochs 1 "
                           "--batch 8 --lr 1e-3" + mode + data + " --out " + out);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("validation: exact match"), std::string::npos) << r.output;
    std::vector<nlohmann::json> steps;
    for (const auto& l : read_jsonl(out + "/metrics.jsonl"))
      if (l.contains("lr")) steps.push_back(l);
    ASSERT_EQ(steps.size(), 12u) << "32 prompts, 8 per batch, 3 steps per batch";
    for (size_t i = 0; i < steps.size(); ++i) {
      const auto& l = steps[i];
      SCOPED_TRACE("step " + std::to_string(i + 1));
      for (const char* k : {"ppo/reward", "ppo/kl", "ppo/completion_tokens", "ppo/policy_loss", "ppo/value_loss", "ppo/clipfrac", "ppo/sample_s"})
        ASSERT_TRUE(l.contains(k)) << k << " in " << l.dump();
      EXPECT_GE(l["ppo/reward"].get<double>(), 0.0);
      EXPECT_LE(l["ppo/reward"].get<double>(), 1.0);
      EXPECT_TRUE(std::isfinite(l["loss"].get<double>()));
      if (i % 3 == 0) {  // the batch's first step samples; its policy is the rollout's: ratio 1
        EXPECT_GT(l["ppo/sample_s"].get<double>(), 0.0);
        EXPECT_EQ(l["ppo/clipfrac"].get<double>(), 0.0);
        if (i == 0) {
          EXPECT_NEAR(l["ppo/kl"].get<double>(), 0.0, 1e-5) << "the first rollout's policy is the reference";
        }
      } else {  // the next two train on the same rollout
        EXPECT_EQ(l["ppo/sample_s"].get<double>(), 0.0);
        EXPECT_EQ(l["ppo/reward"], steps[i - i % 3]["ppo/reward"]);
        EXPECT_EQ(l["ppo/kl"], steps[i - i % 3]["ppo/kl"]);
        EXPECT_NE(l["ppo/policy_loss"], steps[i - 1]["ppo/policy_loss"]) << "the policy moved between steps";
      }
    }
    const auto task = nlohmann::json::parse(io::read_file(out + "/task.json"));
    EXPECT_EQ(task["task"], "ppo");
    EXPECT_EQ(task["ppo"]["epochs"], 3);
    EXPECT_EQ(task["grpo"]["group"], 2);
    // The value head, under TRL's names, beside the policy's weights or its adapters.
    const auto f = io::SafeTensorsFile::open(out + (mode.empty() ? "/model.safetensors" : "/adapter_model.safetensors"));
    const std::string prefix = mode.empty() ? "" : "base_model.model.";
    ASSERT_TRUE(f.contains(prefix + "v_head.summary.weight"));
    EXPECT_EQ(f.get(prefix + "v_head.summary.weight").shape(), Shape({1, 32}));
    EXPECT_TRUE(f.contains(prefix + "v_head.summary.bias"));
    const adapt::TaskModel loaded = adapt::TaskModel::load(out);
    ASSERT_NE(loaded.value_head(), nullptr);
    const auto g = run_cli("--threads 1 generate --model " + out + " --prompt 'What is 1 + 2?' --max-tokens 4");
    EXPECT_EQ(g.exit_code, 0) << g.output;
    const auto e = run_cli("--threads 1 evaluate --model " + out + " --data " + dir + "/data/test.answers.jsonl --json");
    ASSERT_EQ(e.exit_code, 0) << e.output;
    EXPECT_EQ(nlohmann::json::parse(e.output.substr(e.output.find('{')))["documents"], 4);
  }
  const std::string common = "--threads 1 finetune --model " + dir + "/base --task ppo" + data;
  for (const std::string bad : {" --ppo-epochs 0", " --cliprange 0", " --gamma 1.5", " --lam 2", " --group 0"}) {
    const auto r = run_cli(common + bad + " --out " + dir + "/bad");
    EXPECT_NE(r.exit_code, 0) << bad;
    EXPECT_NE(r.output.find(bad.substr(1, bad.find(' ', 1) - 1)), std::string::npos) << "the message names the option: " << r.output;
  }
  EXPECT_NE(run_cli("finetune --help").output.find("--ppo-epochs"), std::string::npos);
  // Under mpirun each process would hold its own rollout, which one writer cannot checkpoint: refused.
  const auto mpi = run_launched(mpi_launcher(2), common + " --ppo-epochs 2 --out " + dir + "/mpi");
  EXPECT_NE(mpi.exit_code, 0);
  EXPECT_NE(mpi.output.find("ppo under mpirun is not built yet"), std::string::npos) << mpi.output;
}

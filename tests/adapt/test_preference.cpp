// Preference learning: log_sigmoid, the Bradley-Terry reward loss and the DPO losses (sigmoid,
// IPO) against PyTorch reference code (TRL's formulas) and finite differences; preference files
// checked line by line; `finetune --task reward` and `--task dpo` through the CLI on a tiny model:
// the loss falls, the logs carry the pairs' metrics, the folders evaluate and reload; dpo and grpo
// runs interrupted by SIGINT resume to the losses of straight runs, and so does a ppo run stopped
// inside a rollout (its checkpoint carries the rollout).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "cornerstone/adapt/finetune.h"
#include "cornerstone/adapt/preference.h"
#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/ops/activation.h"
#include "cli.h"
#include "op_check.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;
namespace fs = std::filesystem;

namespace {

Tensor vec(std::vector<float> v) { return Tensor::from_data({static_cast<int64_t>(v.size())}, v); }

}  // namespace

TEST(Preference, LogSigmoidMatchesPyTorchAndFiniteDifferences) {
  OpCase c;
  c.oracle_op = "log_sigmoid";
  c.inputs = {vec({-30.0f, -4.0f, -0.5f, 0.0f, 0.25f, 3.0f, 30.0f, 1.5f})};
  c.grad = {true};
  c.run = [](const std::vector<Tensor>& in) { return ops::log_sigmoid(in[0]); };
  check_against_oracle(c);
  check_finite_differences(c);
}

TEST(Preference, BradleyTerryLossAndGradientsMatchPyTorch) {
  OpCase c;
  c.oracle_op = "reward_loss";
  c.inputs = {vec({0.3f, -1.2f, 2.0f, 0.0f, 5.0f}), vec({-0.4f, 0.8f, 2.5f, 0.1f, -3.0f})};
  c.grad = {true, true};
  c.run = [](const std::vector<Tensor>& in) { return adapt::bradley_terry_loss(in[0], in[1]); };
  check_against_oracle(c);
  check_finite_differences(c);
}

TEST(Preference, DpoSigmoidAndIpoLossesAndGradientsMatchPyTorch) {
  for (const char* loss : {"sigmoid", "ipo"}) {
    for (float beta : {0.1f, 0.5f}) {
      SCOPED_TRACE(std::string(loss) + " beta " + std::to_string(beta));
      OpCase c;
      c.oracle_op = "dpo_loss";
      c.attrs = {{"beta", beta}, {"loss", loss}};
      // Sequence log-probabilities: policy chosen / rejected, reference chosen / rejected.
      c.inputs = {vec({-12.5f, -30.1f, -7.0f, -18.0f}), vec({-14.0f, -28.0f, -9.5f, -18.2f}), vec({-13.0f, -29.5f, -7.2f, -17.0f}),
                  vec({-13.1f, -29.0f, -9.0f, -19.0f})};
      c.grad = {true, true, false, false};
      const adapt::DpoLoss kind = adapt::dpo_loss_from_name(loss);
      c.run = [beta, kind](const std::vector<Tensor>& in) { return adapt::dpo_loss(in[0], in[1], in[2], in[3], beta, kind); };
      check_against_oracle(c);
      check_finite_differences(c);
    }
  }
  EXPECT_THROW(adapt::dpo_loss(vec({1}), vec({1}), vec({1}), vec({1}), 0.0f, adapt::DpoLoss::Sigmoid), ValueError);
  EXPECT_THROW(adapt::dpo_loss_from_name("kto"), ValueError);
}

TEST(Preference, PairFilesAreCheckedLineByLine) {
  const std::string dir = fresh_temp_dir("pref_files");
  auto expect_error = [&](const std::string& text, const std::string& what) {
    EXPECT_TRUE(file_is_refused(dir + "/p.jsonl", text, [](const std::string& p) { adapt::read_preference_pairs(p); }, what));
  };
  expect_error("", "has no preference pairs");
  expect_error("{\"prompt\": \"q\", \"chosen\": \"a\"}\n", "p.jsonl:1: missing \"rejected\"");
  expect_error("{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"b\"}\n{\"prompt\": \"q\", \"chosen\": [1], \"rejected\": \"b\"}\n",
               "p.jsonl:2: \"chosen\" must be a string");
  expect_error("{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"a\"}\n", "p.jsonl:1: \"chosen\" and \"rejected\" are the same");
  fs::remove_all(dir);
}

namespace {

// A tiny GPT-2 with a tokenizer, and arithmetic preference pairs from `dataset arithmetic`.
std::string tiny_setup(const std::string& dir) {
  save_tiny_decoder(dir + "/base", "User: What is 47 + 85?\n\nAssistant: Answer: 132 0123456789 + - * carry write", 3);
  const auto r = run_cli("dataset arithmetic --out " + dir + "/data --count 120 --ops add --max-digits 2 --val-fraction 0.2 --test-fraction 0.2");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return dir + "/base";
}

}  // namespace

TEST(Preference, RewardAndDpoFineTuneThroughTheCli) {
  const std::string dir = fresh_temp_dir("pref_cli");
  const std::string base = tiny_setup(dir);
  const std::string data = " --train " + dir + "/data/train.pairs.jsonl --val " + dir + "/data/val.pairs.jsonl";
  // Reward model on a preference a tiny model learns in seconds (answers ending in 1 over answers
  // ending in 9): the Bradley-Terry loss falls and the held-out pairs are ranked right.
  auto easy = [](int from, int to) {
    std::string text;
    for (int i = from; i < to; ++i)
      text += nlohmann::json{{"prompt", "What is " + std::to_string(i) + " + " + std::to_string(2 * i) + "?"},
                             {"chosen", "Answer: " + std::to_string(i % 7) + "1"}, {"rejected", "Answer: " + std::to_string(i % 7) + "9"}}.dump() + "\n";
    return text;
  };
  io::write_file_atomic(dir + "/easy.jsonl", easy(0, 48));
  io::write_file_atomic(dir + "/easy-test.jsonl", easy(60, 76));
  auto r = run_cli("--threads 1 finetune --model " + base + " --task reward --train " + dir + "/easy.jsonl --val " + dir +
                   "/data/val.pairs.jsonl --out " + dir + "/rm --epochs 10 --batch 8 --lr 3e-3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("validation: pairwise accuracy"), std::string::npos) << r.output;
  auto metrics = read_jsonl(dir + "/rm/metrics.jsonl");
  std::vector<double> losses;
  for (const auto& l : metrics)
    if (l.contains("loss") && l.contains("reward/accuracy")) losses.push_back(l["loss"]);
  ASSERT_EQ(losses.size(), 60u);  // 48 pairs, 8 per step, 10 epochs
  double first = 0, last = 0;
  for (size_t i = 0; i < 6; ++i) first += losses[i], last += losses[losses.size() - 1 - i];
  EXPECT_LT(last, 0.5 * first) << "the reward loss falls (last epoch against the first): " << nlohmann::json(losses).dump();
  const auto held_out = run_cli("--threads 1 evaluate --model " + dir + "/rm --data " + dir + "/easy-test.jsonl --json");
  ASSERT_EQ(held_out.exit_code, 0) << held_out.output;
  EXPECT_GT(nlohmann::json::parse(held_out.output.substr(held_out.output.find('{')))["accuracy"].get<double>(), 0.95);
  // Under LoRA the head is saved beside the adapters and the folder reloads for evaluation.
  r = run_cli("--threads 1 finetune --model " + base + " --task reward --lora-rank 4 --train " + dir + "/easy.jsonl --out " + dir +
              "/rm-lora --epochs 1 --batch 8");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir + "/rm-lora/adapter_model.safetensors"));
  EXPECT_EQ(run_cli("--threads 1 evaluate --model " + dir + "/rm-lora --data " + dir + "/easy-test.jsonl --task reward").exit_code, 0);
  const auto ev = run_cli("--threads 1 evaluate --model " + dir + "/rm --data " + dir + "/data/test.pairs.jsonl --json");
  ASSERT_EQ(ev.exit_code, 0) << ev.output;
  const auto j = nlohmann::json::parse(ev.output.substr(ev.output.find('{')));
  EXPECT_EQ(j["pairs"], 24);
  EXPECT_GE(j["accuracy"].get<double>(), 0.0);

  // DPO, full and LoRA: per-step implicit rewards, accuracy and margin; the margin grows.
  for (const std::string mode : {"", " --lora-rank 4 --lora-targets all-linear"}) {
    SCOPED_TRACE(mode.empty() ? "full" : "lora");
    const std::string out = dir + (mode.empty() ? "/dpo" : "/dpo-lora");
    r = run_cli("--threads 1 finetune --model " + base + " --task dpo --beta 0.5" + mode + data + " --out " + out + " --epochs 3 --batch 8 --lr 3e-3");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    metrics = read_jsonl(out + "/metrics.jsonl");
    std::vector<double> margins;
    for (const auto& l : metrics)
      if (l.contains("rewards/margin") && l.contains("loss")) {
        margins.push_back(l["rewards/margin"]);
        EXPECT_TRUE(l.contains("rewards/chosen") && l.contains("rewards/rejected") && l.contains("rewards/accuracy"));
      }
    ASSERT_GE(margins.size(), 6u);
    EXPECT_NEAR(margins[0], 0.0, 0.05) << "the first step starts at the reference";
    EXPECT_GT(margins.back(), margins[0]) << "the policy moves toward the chosen responses";
    // The tuned model is a language model: it generates and is scored on responses.
    const auto g = run_cli("--threads 1 generate --model " + out + " --prompt 'What is 12 + 34?' --max-tokens 4");
    EXPECT_EQ(g.exit_code, 0) << g.output;
  }
  // RPO: the chosen responses' NLL (a mean over their tokens) times --rpo-alpha joins the loss. At
  // the first step the policy is the reference, so the DPO part is ln 2 exactly.
  r = run_cli("--threads 1 finetune --model " + base + " --task dpo --beta 0.5 --rpo-alpha 0.5" + data + " --out " + dir +
              "/rpo --epochs 1 --batch 8 --lr 3e-3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  metrics = read_jsonl(dir + "/rpo/metrics.jsonl");
  const auto step1 = std::find_if(metrics.begin(), metrics.end(), [](const nlohmann::json& l) { return l.contains("lr"); });
  ASSERT_NE(step1, metrics.end());
  ASSERT_TRUE(step1->contains("rewards/nll")) << step1->dump();
  EXPECT_GT((*step1)["rewards/nll"].get<double>(), 0.0);
  EXPECT_NEAR((*step1)["loss"].get<double>(), std::log(2.0) + 0.5 * (*step1)["rewards/nll"].get<double>(), 1e-4);
  EXPECT_EQ(nlohmann::json::parse(io::read_file(dir + "/rpo/task.json"))["rpo_alpha"], 0.5);
  // Bad input and option mixes: clear errors.
  EXPECT_NE(run_cli("finetune --model " + base + " --task dpo --beta 0 " + data + " --out " + dir + "/x1").exit_code, 0);
  EXPECT_NE(run_cli("finetune --model " + base + " --task dpo --rpo-alpha -1 " + data + " --out " + dir + "/x3").output.find("--rpo-alpha"),
            std::string::npos);
  const auto bad = run_cli("finetune --model " + base + " --task reward --train " + dir + "/data/train.jsonl --out " + dir + "/x2");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("train.jsonl:1: missing \"chosen\""), std::string::npos) << bad.output;
  EXPECT_NE(run_cli("finetune --help").output.find("--beta"), std::string::npos);
  fs::remove_all(dir);
}

// An interrupted dpo run (full fine-tuning: its reference must come from the base, not from the
// checkpoint's weights) and grpo run (sampling seeds from the checkpointed generator) resume to
// exactly the losses of straight runs.
TEST(Preference, InterruptedDpoGrpoAndPpoResumeExactly) {
  const std::string dir = fresh_temp_dir("pref_resume");
  const std::string base = tiny_setup(dir);
  const std::string dpo = "--threads 1 finetune --model " + base + " --task dpo --beta 0.5 --epochs 2 --batch 8 --lr 3e-3 --train " + dir +
                          "/data/train.pairs.jsonl --out ";
  const std::string grpo = "--threads 1 finetune --model " + base + " --task grpo --group 4 --max-new-tokens 6 --epochs 1 --batch 8 --train " +
                           dir + "/data/train.answers.jsonl --out ";
  // ppo: two steps per rollout; interrupted after an odd step, the resumed run's next step trains on
  // the rollout the checkpoint carries.
  const std::string ppo = "--threads 1 finetune --model " + base + " --task ppo --group 2 --ppo-epochs 2 --max-new-tokens 24 --epochs 1 "
                          "--batch 8 --lr 3e-3 --train " + dir + "/data/train.answers.jsonl --out ";
  for (const auto& [name, common] : {std::pair{std::string("dpo"), dpo}, std::pair{std::string("grpo"), grpo}, std::pair{std::string("ppo"), ppo}}) {
    SCOPED_TRACE(name);
    const std::string straight = dir + "/" + name + "-straight", resumed = dir + "/" + name + "-resumed";
    auto r = run_cli(common + straight);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    // ppo: the signal comes while step 3 (the second rollout's sampling) runs, so the checkpoint
    // falls inside a batch; a signal that comes late (a slow poll) is retried.
    InterruptedCliResult stopped;
    const int64_t lines = name == "ppo" ? 2 : 3;  // (a structured binding cannot be captured under clang)
    for (int attempt = 0; attempt < 4; ++attempt) {
      fs::remove_all(resumed);
      stopped = run_cli_interrupting(common + resumed, [&] { return count_lines(resumed + "/metrics.jsonl") >= lines; });
      if (name != "ppo" || stopped.stopped_at % 2 == 1) break;
    }
    ASSERT_TRUE(stopped.signalled) << stopped.output;
    ASSERT_GT(stopped.stopped_at, 0) << stopped.output;
    if (name == "ppo") {
      ASSERT_EQ(stopped.stopped_at % 2, 1) << stopped.output;
      const auto ckpt = adapt::finetune_checkpoint(resumed);
      ASSERT_TRUE(ckpt.has_value());
      EXPECT_TRUE(fs::exists(*ckpt + "/ppo_rollout.json"));
    }
    r = run_cli(common + resumed + " --resume");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto losses = [](const std::string& out) {
      std::vector<double> v;
      for (const auto& l : read_jsonl(out + "/metrics.jsonl"))
        if (l.contains("lr")) v.push_back(l["loss"].get<double>());  // the training steps' lines
      return v;
    };
    const auto a = losses(straight), b = losses(resumed);
    ASSERT_GE(a.size(), 9u);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "step " << i + 1;
  }
  fs::remove_all(dir);
}

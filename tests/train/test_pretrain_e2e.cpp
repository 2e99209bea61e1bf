// Pretraining end to end through the CLI, on real text (State of the Union addresses):
// tokenizer -> prepare -> pretrain -> eval / generate / plot, resume after Ctrl-C, determinism,
// and the bad inputs of the pretraining issue.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "test_util.h"

using namespace cornerstone::testing;
namespace fs = std::filesystem;

namespace {

// A small GPT-2 that learns something in a few hundred CPU steps.
const char* kConfig = R"({
  "model": {"arch": "gpt2", "vocab_size": 512, "context": 64, "n_layers": 2, "d_model": 64, "n_heads": 4, "d_ff": 256},
  "training": {"batch_size": 8, "steps": 300, "lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 20, "eval_every": 50,
               "eval_batches": 4, "checkpoint_every": 100, "keep_checkpoints": 2, "seed": 7}
})";

struct Metric {
  int64_t step;
  double loss = -1, val_loss = -1;
};

std::vector<Metric> read_metrics(const std::string& run) {
  std::vector<Metric> out;
  std::ifstream in(fs::path(run) / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    Metric m{j["step"].get<int64_t>()};
    if (j.contains("loss")) m.loss = j["loss"].get<double>();
    if (j.contains("val_loss")) m.val_loss = j["val_loss"].get<double>();
    out.push_back(m);
  }
  return out;
}

std::vector<double> train_losses(const std::string& run) {
  std::vector<double> out;
  for (const Metric& m : read_metrics(run))
    if (m.loss >= 0) out.push_back(m.loss);
  return out;
}

class Pretrain : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(fresh_temp_dir("pretrain"));
    const std::string sotu = fetch_dataset("sotu") + "/data";
    // The first 30 addresses (about 1 MB) keep the test quick.
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(sotu))
      if (e.path().extension() == ".txt") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    files.resize(30);
    std::string corpus;
    for (const auto& f : files) corpus += " " + f;
    auto r = run_cli("tokenizer train --corpus" + corpus + " --vocab-size 512 --special '<|endoftext|>' --out " + tok());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::string inputs;
    for (const auto& f : files) inputs += " --input " + f;
    r = run_cli("prepare --tokenizer " + tok() + inputs + " --val-fraction 0.1 --out " + data());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::ofstream(config()) << kConfig;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string tok() { return *dir_ + "/tok"; }
  static std::string data() { return *dir_ + "/data"; }
  static std::string config() { return *dir_ + "/config.json"; }
  static std::string run(const std::string& name) { return *dir_ + "/" + name; }
  static std::string pretrain(const std::string& out, const std::string& extra = "") {
    return "--threads 2 pretrain --config " + config() + " --data " + data() + " --out " + out + " " + extra;
  }
  static std::string* dir_;
};
std::string* Pretrain::dir_ = nullptr;

}  // namespace

TEST_F(Pretrain, LearnsFromRealTextAndEverythingDownstreamWorks) {
  const std::string out = run("main");
  const auto r = run_cli(pretrain(out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto m = read_metrics(out);
  ASSERT_FALSE(m.empty());
  EXPECT_EQ(m.front().step, 0);
  const double start = m.front().val_loss, end = m.back().val_loss;
  // ln(512) = 6.24 at the start; a model that learnt the text's statistics is far below.
  EXPECT_GT(start, 5.5);
  EXPECT_LT(end, 0.75 * start) << "validation loss went from " << start << " to " << end;
  EXPECT_EQ(m.back().step, 300);

  // The run folder is a model folder: eval, generate and plot work on it.
  auto e = run_cli("eval --model " + out + " --data " + data() + " --json");
  ASSERT_EQ(e.exit_code, 0) << e.output;
  const auto ej = nlohmann::json::parse(e.output.substr(e.output.find('{')));
  EXPECT_NEAR(ej["loss"].get<double>(), end, 0.35);
  EXPECT_NEAR(ej["perplexity"].get<double>(), std::exp(ej["loss"].get<double>()), 1e-6 * ej["perplexity"].get<double>());

  auto g = run_cli("generate --model " + out + " --prompt 'The Congress' --max-tokens 20 --seed 3 --stats");
  ASSERT_EQ(g.exit_code, 0) << g.output;
  EXPECT_EQ(g.output.rfind("The Congress", 0), 0u) << g.output;
  EXPECT_NE(g.output.find("generated tokens 20"), std::string::npos) << g.output;
  auto g2 = run_cli("generate --model " + out + " --prompt 'The Congress' --max-tokens 20 --seed 3 --stats");
  EXPECT_EQ(g.output.substr(0, g.output.find("prompt tokens")), g2.output.substr(0, g2.output.find("prompt tokens")))
      << "same seed, same text";
  auto greedy = run_cli("generate --model " + out + " --prompt 'The Congress' --max-tokens 10 --greedy");
  EXPECT_EQ(greedy.exit_code, 0) << greedy.output;

  auto p = run_cli("plot " + out);
  ASSERT_EQ(p.exit_code, 0) << p.output;
  std::ifstream svg(fs::path(out) / "loss.svg");
  const std::string s((std::istreambuf_iterator<char>(svg)), std::istreambuf_iterator<char>());
  EXPECT_NE(s.find("<svg"), std::string::npos);
  EXPECT_NE(s.find("validation"), std::string::npos);

  // Checkpoints: the last K kept, each a loadable model folder.
  std::vector<std::string> ckpts;
  for (const auto& d : fs::directory_iterator(fs::path(out) / "checkpoints")) ckpts.push_back(d.path().filename().string());
  std::sort(ckpts.begin(), ckpts.end());
  EXPECT_EQ(ckpts, (std::vector<std::string>{"step-00000200", "step-00000300"}));
  for (const char* f : {"model.safetensors", "config.json", "optimizer.safetensors", "state.json", "tokenizer.json"})
    EXPECT_TRUE(fs::exists(fs::path(out) / "checkpoints" / "step-00000300" / f)) << f;
}

TEST_F(Pretrain, InterruptAndResumeGiveTheSameLossesAsAStraightRun) {
  const std::string straight = run("straight"), resumed = run("resumed");
  auto r = run_cli(pretrain(straight, "--steps 60"));
  ASSERT_EQ(r.exit_code, 0) << r.output;

  // Same run, interrupted by a real SIGINT (Ctrl-C) from outside once 5 steps are logged; it
  // stops after the step it is in, saves a checkpoint there, and is then resumed.
  const auto stopped = run_cli_interrupting(pretrain(resumed, "--steps 60"), [&] { return count_lines(resumed + "/metrics.jsonl") >= 5; });
  ASSERT_TRUE(stopped.signalled) << "the run ended before it could be interrupted\n" << stopped.output;
  EXPECT_EQ(stopped.exit_code, 130) << "Ctrl-C exits with 130 after saving\n" << stopped.output;
  const int64_t at = stopped.stopped_at;
  ASSERT_GT(at, 0) << stopped.output;
  EXPECT_LT(at, 60);
  EXPECT_TRUE(fs::exists(fs::path(resumed) / "checkpoints" / checkpoint_name(at) / "state.json")) << at;
  EXPECT_EQ(train_losses(resumed).size(), static_cast<size_t>(at));
  r = run_cli(pretrain(resumed, "--steps 60 --resume"));
  ASSERT_EQ(r.exit_code, 0) << r.output;

  const auto a = train_losses(straight), b = train_losses(resumed);
  ASSERT_EQ(a.size(), 60u);
  ASSERT_EQ(b.size(), 60u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "step " << i + 1 << " (interrupted after " << at << ")";
}

TEST_F(Pretrain, SameSeedAndThreadsGiveBitIdenticalLosses) {
  const std::string a = run("det_a"), b = run("det_b");
  ASSERT_EQ(run_cli(pretrain(a, "--steps 25")).exit_code, 0);
  ASSERT_EQ(run_cli(pretrain(b, "--steps 25")).exit_code, 0);
  EXPECT_EQ(train_losses(a), train_losses(b));
}

// --checkpoint-activations recomputes each block in the backward pass: the same losses (the
// recomputation replays the same arithmetic), and far less memory kept between forward and
// backward (metrics.jsonl's activation_mb: 2 of a 2-layer model's blocks' internals are dropped;
// the embeddings, block inputs and the LM head's share remain).
TEST_F(Pretrain, ActivationCheckpointingKeepsLossesAndCutsActivationMemory) {
  const std::string a = run("ckpt_off"), b = run("ckpt_on");
  ASSERT_EQ(run_cli(pretrain(a, "--steps 6 --context 64")).exit_code, 0);
  const auto r = run_cli(pretrain(b, "--steps 6 --context 64 --checkpoint-activations"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(train_losses(a), train_losses(b));
  auto activation_mb = [&](const std::string& run_dir) {
    double mb = 0;
    std::ifstream in(fs::path(run_dir) / "metrics.jsonl");
    for (std::string line; std::getline(in, line);) {
      const auto j = nlohmann::json::parse(line);
      if (j.contains("activation_mb")) mb = std::max(mb, j["activation_mb"].get<double>());
    }
    return mb;
  };
  const double off = activation_mb(a), on = activation_mb(b);
  EXPECT_GT(off, 0.5) << "activation_mb is missing from metrics.jsonl";
  EXPECT_LT(on, 0.5 * off) << "checkpointed " << on << " MB vs " << off << " MB";
}

TEST_F(Pretrain, BadInputIsNamedAndLosesNothing) {
  // Unknown and missing config keys.
  const std::string bad_cfg = run("bad.json");
  std::ofstream(bad_cfg) << R"({"model": "gpt2-tiny", "training": {"batch_sise": 4}})";
  auto r = run_cli("pretrain --config " + bad_cfg + " --data " + data() + " --out " + run("x"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("unknown key 'batch_sise'"), std::string::npos) << r.output;
  std::ofstream(bad_cfg) << R"({"training": {}})";
  r = run_cli("pretrain --config " + bad_cfg + " --data " + data() + " --out " + run("x"));
  EXPECT_NE(r.output.find("missing key 'model'"), std::string::npos) << r.output;

  // A model whose vocabulary is smaller than the tokenizer's.
  std::ofstream(bad_cfg) << R"({"model": {"arch": "gpt2", "vocab_size": 256, "context": 64, "n_layers": 1, "d_model": 32,
                                          "n_heads": 2, "d_ff": 64}})";
  r = run_cli("pretrain --config " + bad_cfg + " --data " + data() + " --out " + run("x"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("vocabulary mismatch"), std::string::npos) << r.output;

  // An empty corpus.
  const std::string empty = run("empty");
  fs::create_directories(empty);
  std::ofstream(empty + "/a.txt") << "";
  r = run_cli("prepare --tokenizer " + tok() + " --input " + empty + " --out " + run("empty_data"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("no text found"), std::string::npos) << r.output;

  // A truncated shard.
  const std::string trunc = run("trunc_data");
  fs::copy(data(), trunc, fs::copy_options::recursive);
  const fs::path shard = fs::path(trunc) / "train-00000.bin";
  fs::resize_file(shard, fs::file_size(shard) - 3);
  r = run_cli(pretrain(run("y"), "--steps 2").replace(pretrain(run("y"), "--steps 2").find(data()), data().size(), trunc));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("train-00000.bin"), std::string::npos) << r.output;

  // A run with checkpoints: re-running without --resume refuses; a corrupt newest checkpoint
  // makes --resume fail naming the file, and the older good checkpoint is untouched.
  const std::string out = run("ckpt");
  ASSERT_EQ(run_cli(pretrain(out, "--steps 200")).exit_code, 0);
  r = run_cli(pretrain(out, "--steps 200"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--resume"), std::string::npos) << r.output;
  const fs::path good = fs::path(out) / "checkpoints" / "step-00000100" / "model.safetensors";
  const fs::path newest = fs::path(out) / "checkpoints" / "step-00000200" / "model.safetensors";
  const auto good_size = fs::file_size(good);
  const auto good_time = fs::last_write_time(good);
  fs::remove(fs::path(out) / "model.safetensors");  // unlink the run's hard link before damaging the file
  fs::resize_file(newest, fs::file_size(newest) / 2);
  r = run_cli(pretrain(out, "--steps 300 --resume"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("step-00000200/model.safetensors"), std::string::npos) << r.output;
  EXPECT_EQ(fs::file_size(good), good_size);
  EXPECT_EQ(fs::last_write_time(good), good_time);
  r = run_cli("generate --model " + (fs::path(out) / "checkpoints" / "step-00000100").string() + " --prompt 'The' --max-tokens 3");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

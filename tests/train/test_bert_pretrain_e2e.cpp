// Masked-LM pretraining end to end through the CLI on real text (State of the Union addresses with
// BERT's WordPiece vocabulary): the loss falls, the run folder is a BertForMaskedLM checkpoint in
// Hugging Face names, Ctrl-C + --resume equals a straight run (masks and dropout included), and
// the encoder's bad inputs are named.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "cornerstone/io/safetensors.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;
namespace fs = std::filesystem;

namespace {

// A small BERT (the real 30,522-token vocabulary, two narrow layers), dropout on, whole words.
const char* kConfig = R"({
  "model": {"arch": "bert", "context": 64, "n_layers": 2, "d_model": 64, "n_heads": 4, "d_ff": 256},
  "training": {"batch_size": 8, "steps": 60, "lr": 2e-3, "min_lr": 2e-4, "warmup_steps": 10, "eval_every": 20,
               "eval_batches": 4, "checkpoint_every": 20, "keep_checkpoints": 2, "seed": 5},
  "masking": {"whole_word": true}
})";

std::vector<nlohmann::json> metrics(const std::string& run) {
  std::vector<nlohmann::json> out;
  std::ifstream in(fs::path(run) / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

std::vector<double> train_losses(const std::string& run) {
  std::vector<double> out;
  for (const auto& m : metrics(run))
    if (m.contains("loss")) out.push_back(m["loss"].get<double>());
  return out;
}

class BertPretrain : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(fresh_temp_dir("bert_pretrain"));
    const std::string sotu = fetch_dataset("sotu") + "/data";
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(sotu))
      if (e.path().extension() == ".txt") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    files.resize(20);
    std::string inputs;
    for (const auto& f : files) inputs += " --input " + f;
    const auto r = run_cli("prepare --tokenizer " + fetch_dataset("bert-vocab") + "/vocab.txt" + inputs + " --val-fraction 0.1 --out " + d("data"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::ofstream(d("config.json")) << kConfig;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string d(const std::string& name) { return *dir_ + "/" + name; }
  static std::string pretrain(const std::string& out, const std::string& extra = "") {
    return "--threads 2 pretrain --config " + d("config.json") + " --data " + d("data") + " --out " + out + " " + extra;
  }
  static std::string* dir_;
};
std::string* BertPretrain::dir_ = nullptr;

}  // namespace

TEST_F(BertPretrain, LearnsAndWritesAHuggingFaceBertForMaskedLMFolder) {
  const std::string out = d("main");
  const auto r = run_cli(pretrain(out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("masked LM (15% of tokens, whole words, sentence pairs)"), std::string::npos) << r.output;
  const auto m = metrics(out);
  ASSERT_FALSE(m.empty());
  const double start = m.front()["val_loss"].get<double>(), end = m.back()["val_loss"].get<double>();
  // ln(30522) = 10.3 at the start; after 60 small steps the frequent words are learnt.
  EXPECT_GT(start, 9.5);
  EXPECT_LT(end, 0.8 * start) << "masked-LM validation loss went from " << start << " to " << end;

  std::ifstream cfg_file(fs::path(out) / "config.json");
  const auto cfg = nlohmann::json::parse(cfg_file);
  EXPECT_EQ(cfg["model_type"], "bert");
  EXPECT_EQ(cfg["architectures"][0], "BertForMaskedLM");
  EXPECT_EQ(cfg["max_position_embeddings"], 64);
  const auto st = io::SafeTensorsFile::open((fs::path(out) / "model.safetensors").string());
  for (const char* n : {"bert.embeddings.word_embeddings.weight", "bert.embeddings.token_type_embeddings.weight",
                        "bert.encoder.layer.1.attention.self.query.weight", "bert.encoder.layer.0.output.LayerNorm.bias",
                        "bert.pooler.dense.weight", "cls.predictions.transform.dense.weight", "cls.predictions.bias"})
    EXPECT_TRUE(st.contains(n)) << n;
  EXPECT_FALSE(st.contains("cls.predictions.decoder.weight")) << "the decoder is tied to the word embeddings";
  for (const char* f : {"optimizer.safetensors", "state.json", "tokenizer.json"})
    EXPECT_TRUE(fs::exists(fs::path(out) / "checkpoints" / "step-00000060" / f)) << f;
}

TEST_F(BertPretrain, InterruptAndResumeGiveTheSameLossesAsAStraightRun) {
  const std::string straight = d("straight"), resumed = d("resumed");
  auto r = run_cli(pretrain(straight, "--steps 30"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto stopped = run_cli_interrupting(pretrain(resumed, "--steps 30"), [&] { return count_lines(resumed + "/metrics.jsonl") >= 4; });
  ASSERT_TRUE(stopped.signalled) << stopped.output;
  EXPECT_EQ(stopped.exit_code, 130) << stopped.output;
  const int64_t at = stopped.stopped_at;
  ASSERT_GT(at, 0) << stopped.output;
  EXPECT_LT(at, 30);
  EXPECT_EQ(train_losses(resumed).size(), static_cast<size_t>(at));
  r = run_cli(pretrain(resumed, "--steps 30 --resume"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto a = train_losses(straight), b = train_losses(resumed);
  ASSERT_EQ(a.size(), 30u);
  ASSERT_EQ(b.size(), 30u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "step " << i + 1 << " (interrupted after " << at << ")";
  const auto wa = io::SafeTensorsFile::open((fs::path(straight) / "model.safetensors").string());
  const auto wb = io::SafeTensorsFile::open((fs::path(resumed) / "model.safetensors").string());
  for (const auto& n : wa.names()) EXPECT_EQ(wa.get(n).to_vector(), wb.get(n).to_vector()) << n;
}

TEST_F(BertPretrain, InitContinuesFromAnotherRunsWeights) {
  // Continued (domain-adaptive) pretraining: --init takes another run's weights, with a fresh
  // optimizer and schedule. Its first validation loss is the source run's last one (the same
  // fixed validation batches through the same weights), far below a fresh model's.
  const std::string base = d("init_base"), cont = d("init_cont");
  auto r = run_cli(pretrain(base, "--steps 20"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_cli(pretrain(cont, "--steps 5 --init " + base));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto mb = metrics(base), mc = metrics(cont);
  ASSERT_TRUE(mb.back().contains("val_loss") && mc.front().contains("val_loss"));
  const double base_end = mb.back()["val_loss"].get<double>(), cont_start = mc.front()["val_loss"].get<double>();
  EXPECT_NEAR(cont_start, base_end, 1e-6 * base_end);
  EXPECT_LT(cont_start, mb.front()["val_loss"].get<double>() - 1.0);
  EXPECT_EQ(mc.front()["step"], 0);
  EXPECT_EQ(mc.back()["step"], 5) << "a new schedule, counted from step 0";
  std::ifstream training(fs::path(cont) / "training.json");
  EXPECT_EQ(nlohmann::json::parse(training)["init_from"], base);

  // A different architecture is named by its first differing key; a folder that is no model, too.
  std::ofstream(d("wide.json")) << R"({"model": {"arch": "bert", "context": 64, "n_layers": 2, "d_model": 128, "n_heads": 4, "d_ff": 256}})";
  r = run_cli("pretrain --config " + d("wide.json") + " --data " + d("data") + " --out " + d("init_wide") + " --init " + base);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("is not the model the config describes: hidden_size is 64 in"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("but 128 in the config"), std::string::npos) << r.output;
  r = run_cli(pretrain(d("init_none"), "--init " + d("data")));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("missing config.json"), std::string::npos) << r.output;
}

TEST_F(BertPretrain, BadInputIsNamed) {
  // Data tokenized without [CLS] / [SEP] / [MASK] (a byte-level BPE vocabulary).
  std::string corpus;
  for (const auto& e : fs::directory_iterator(fetch_dataset("sotu") + "/data"))
    if (e.path().filename().string().rfind("1790", 0) == 0 && e.path().extension() == ".txt") corpus += " " + e.path().string();
  auto r = run_cli("tokenizer train --corpus" + corpus + " --vocab-size 300 --special '<|endoftext|>' --out " + d("bpe"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_cli("prepare --tokenizer " + d("bpe") + " --input" + corpus + " --out " + d("bpe_data"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_cli("pretrain --config " + d("config.json") + " --data " + d("bpe_data") + " --out " + d("x"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("masked-LM pretraining needs a [CLS] token"), std::string::npos) << r.output;

  // Sequences longer than the position table, from the command line and from the config.
  r = run_cli(pretrain(d("y"), "--context 65"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--context 65 exceeds the model's context of 64"), std::string::npos) << r.output;
  std::ofstream(d("long.json")) << R"({"model": "bert-tiny", "training": {"context": 1024}})";
  r = run_cli("pretrain --config " + d("long.json") + " --data " + d("data") + " --out " + d("z"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("long.json.training.context: 1024 exceeds the model's context of 512"), std::string::npos) << r.output;
  // Masking keys are an encoder's.
  std::ofstream(d("mask.json")) << R"({"model": "gpt2-tiny", "masking": {"probability": 0.15}})";
  r = run_cli("pretrain --config " + d("mask.json") + " --data " + d("data") + " --out " + d("w"));
  EXPECT_NE(r.output.find("masking is for the masked_lm objective"), std::string::npos) << r.output;
  // Generation needs a decoder.
  r = run_cli("generate --model " + d("main") + " --prompt 'The'");
  if (fs::exists(d("main"))) {
    EXPECT_NE(r.output.find("bert (f32): masked-lm, embeddings; generate runs language models"), std::string::npos) << r.output;
  }
}

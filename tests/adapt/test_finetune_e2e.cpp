// Adaptation end to end through the CLI: a small model pretrained on SOTU, then spam
// classification (full, frozen base, LoRA), tagging, evaluation, LoRA merge, and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "test_util.h"

using namespace cornerstone::testing;
namespace fs = std::filesystem;

namespace {

class Finetune : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(fresh_temp_dir("finetune"));
    const std::string sotu = fetch_dataset("sotu") + "/data";
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(sotu))
      if (e.path().extension() == ".txt") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    files.resize(20);
    std::string corpus, inputs;
    for (const auto& f : files) corpus += " " + f, inputs += " --input " + f;
    auto r = run_cli("tokenizer train --corpus" + corpus + " --vocab-size 512 --special '<|endoftext|>' --out " + d("tok"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = run_cli("prepare --tokenizer " + d("tok") + inputs + " --out " + d("data"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::ofstream(d("cfg.json")) << R"({"model": {"arch": "gpt2", "vocab_size": 512, "context": 128, "n_layers": 2,
      "d_model": 64, "n_heads": 4, "d_ff": 256}, "training": {"batch_size": 8, "steps": 150, "lr": 3e-3, "warmup_steps": 10,
      "eval_every": 0, "checkpoint_every": 0}})";
    r = run_cli("pretrain --config " + d("cfg.json") + " --data " + d("data") + " --out " + d("base"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    // Spam vs ham: a few hundred real mails, split by the dataset builder's seed.
    r = run_cli("dataset spam --source " + fetch_dataset("spam") + " --out " + d("spam") + " --max-chars 600");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    head(d("spam/train.jsonl"), d("train.jsonl"), 800);
    head(d("spam/val.jsonl"), d("val.jsonl"), 150);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string d(const std::string& name) { return *dir_ + "/" + name; }
  static void head(const std::string& from, const std::string& to, int n) {
    std::ifstream in(from);
    std::ofstream out(to);
    std::string line;
    for (int i = 0; i < n && std::getline(in, line); ++i) out << line << "\n";
  }
  static nlohmann::json evaluate(const std::string& model, const std::string& data) {
    const auto r = run_cli("evaluate --model " + model + " --task classify --data " + data + " --json");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return nlohmann::json::parse(r.output.substr(r.output.find('{')));
  }
  static std::string* dir_;
};
std::string* Finetune::dir_ = nullptr;

const char* kCommon = " --task classify --epochs 4 --batch 16 --max-length 96";

}  // namespace

TEST_F(Finetune, SpamClassificationFullLoraAndFrozenHead) {
  auto full = run_cli("finetune --model " + d("base") + kCommon + " --lr 1e-3 --train " + d("train.jsonl") + " --val " + d("val.jsonl") +
                      " --out " + d("full"));
  ASSERT_EQ(full.exit_code, 0) << full.output;
  auto lora = run_cli("finetune --model " + d("base") + kCommon + " --train " + d("train.jsonl") + " --val " + d("val.jsonl") +
                      " --lora-rank 8 --lora-targets all-linear --lr 3e-3 --out " + d("lora"));
  ASSERT_EQ(lora.exit_code, 0) << lora.output;
  auto head_only = run_cli("finetune --model " + d("base") + kCommon + " --train " + d("train.jsonl") + " --val " +
                           d("val.jsonl") + " --freeze-base --out " + d("head"));
  ASSERT_EQ(head_only.exit_code, 0) << head_only.output;

  const auto f = evaluate(d("full"), d("val.jsonl")), l = evaluate(d("lora"), d("val.jsonl"));
  // About 27% of the validation mails are spam: always answering "ham" scores 0.73.
  EXPECT_GT(f["accuracy"].get<double>(), 0.84) << f.dump();
  EXPECT_GT(l["accuracy"].get<double>(), 0.84) << l.dump();
  EXPECT_TRUE(f.contains("macro_f1"));
  EXPECT_EQ(f["confusion"].size(), 2u);

  const auto report = [&](const std::string& m) {
    return nlohmann::json::parse(std::ifstream(d(m + "/finetune.json")));
  };
  // LoRA r = 8 on every linear of 2 layers (d 64, d_ff 256): 8 x (256 + 128 + 320 + 320) per layer,
  // plus the 2 x 64 head.
  EXPECT_EQ(report("lora")["trainable_parameters"].get<int64_t>(), 2 * 8 * (256 + 128 + 320 + 320) + 2 * 64);
  EXPECT_LT(report("head")["trainable_parameters"].get<int64_t>(), 200);
  EXPECT_GT(report("full")["trainable_percent"].get<double>(), 99.0);
  EXPECT_TRUE(fs::exists(d("lora/adapter_model.safetensors")));
  EXPECT_FALSE(fs::exists(d("lora/model.safetensors"))) << "a LoRA run stores the adapter, not a copy of the base";

  // Merging the adapter gives a full model with the same predictions.
  auto merged = run_cli("lora merge --model " + d("base") + " --adapter " + d("lora") + " --out " + d("merged"));
  ASSERT_EQ(merged.exit_code, 0) << merged.output;
  const auto m = evaluate(d("merged"), d("val.jsonl"));
  EXPECT_EQ(m["confusion"], l["confusion"]);
  EXPECT_NEAR(m["loss"].get<double>(), l["loss"].get<double>(), 1e-4);
}

TEST_F(Finetune, TaggingLearnsPartOfSpeech) {
  // A tiny POS set: determiners, nouns and verbs in simple sentences.
  std::ofstream t(d("tags.jsonl"));
  const char* dets[] = {"The", "A", "This", "That"};
  const char* nouns[] = {"dog", "cat", "man", "child", "bird", "horse"};
  const char* verbs[] = {"runs", "sleeps", "eats", "sings", "jumps"};
  for (int i = 0; i < 240; ++i)
    t << nlohmann::json{{"tokens", {dets[i % 4], nouns[(i / 4) % 6], verbs[(i / 24) % 5], "."}},
                        {"tags", {"DET", "NOUN", "VERB", "."}}}.dump()
      << "\n";
  t.close();
  auto r = run_cli("finetune --model " + d("base") + " --task tag --train " + d("tags.jsonl") + " --epochs 3 --batch 16 --lr 3e-3 --out " + d("tagger"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_cli("evaluate --model " + d("tagger") + " --task tag --data " + d("tags.jsonl") + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_GT(j["accuracy"].get<double>(), 0.95) << j.dump();
  EXPECT_EQ(j["examples"].get<int>(), 240 * 4) << "scored per word";
}

TEST_F(Finetune, BadInputIsNamed) {
  std::ofstream(d("bad.jsonl")) << "{\"text\": \"hello\", \"label\": \"spam\"}\n{\"text\": \"no label\"}\n";
  auto r = run_cli("finetune --model " + d("base") + kCommon + " --train " + d("bad.jsonl") + " --out " + d("x"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("bad.jsonl:2: missing \"label\""), std::string::npos) << r.output;

  std::ofstream(d("unknown.jsonl")) << "{\"text\": \"hello\", \"label\": \"phishing\"}\n";
  r = run_cli("evaluate --model " + d("full") + " --data " + d("unknown.jsonl"));
  if (fs::exists(d("full"))) {
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.output.find("unknown label 'phishing'"), std::string::npos) << r.output;
  }
  r = run_cli("finetune --model " + d("base") + kCommon + " --train " + d("train.jsonl") + " --lora-rank 4 --lora-targets q_proj --out " + d("y"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("target 'q_proj' matches no layer"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(d("y/task.json")));
}

// Instruction tuning on real pairs (who delivered which State of the Union address), full and
// LoRA: the response loss falls, generation with the model's chat template answers a tuned
// prompt and stops by itself, a LoRA folder generates (merged in memory) exactly as its merged
// copy does, and the merged folder names the template it was tuned with.
TEST_F(Finetune, InstructionTuningFullAndLora) {
  auto r = run_cli("dataset sotu-qa --source " + fetch_dataset("sotu") + " --out " + d("qa-all"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<nlohmann::json> who;
  {
    std::ifstream in(d("qa-all/train.jsonl"));
    for (std::string line; std::getline(in, line) && who.size() < 24;)
      if (line.find("Who delivered") != std::string::npos) who.push_back(nlohmann::json::parse(line));
  }
  ASSERT_EQ(who.size(), 24u);
  {
    std::ofstream out(d("qa.jsonl"));
    for (const auto& j : who) out << j.dump() << "\n";
  }
  const std::string common = " --task sft --train " + d("qa.jsonl") + " --val " + d("qa.jsonl") + " --batch 4 --max-length 128";
  r = run_cli("finetune --model " + d("base") + common + " --epochs 100 --lr 3e-3 --out " + d("sft"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("24 examples in"), std::string::npos) << r.output;
  r = run_cli("finetune --model " + d("base") + common + " --epochs 100 --packing --lr 1e-2 --lora-rank 8 --lora-targets all-linear --out " + d("sft-lora"));
  ASSERT_EQ(r.exit_code, 0) << r.output;

  // The response loss on the tuned pairs, before (epoch 0) and after.
  auto losses = [&](const std::string& m) {
    std::vector<double> out;
    std::ifstream in(d(m + "/metrics.jsonl"));
    for (std::string line; std::getline(in, line);) {
      const auto j = nlohmann::json::parse(line);
      if (j.contains("perplexity")) out.push_back(j["loss"].get<double>());
    }
    return out;
  };
  // Full fine-tuning memorises the 24 answers (about 5.8 -> 0.01 nats); LoRA's rank-8 updates on
  // this 2-layer, 64-wide model, with its embeddings and LM head frozen, get about 5.8 -> 4.1.
  for (const auto& [m, ratio] : {std::pair{"sft", 0.05}, std::pair{"sft-lora", 0.8}}) {
    const auto l = losses(m);
    ASSERT_EQ(l.size(), 101u) << m;
    EXPECT_LT(l.back(), ratio * l.front()) << m << ": response loss " << l.front() << " -> " << l.back();
  }
  r = run_cli("evaluate --model " + d("sft") + " --data " + d("qa.jsonl") + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto e = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_NEAR(e["loss"].get<double>(), losses("sft").back(), 1e-4);
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(d("sft/config.json")))["chat_template"], "plain");

  // Generation with the chat template answers tuned prompts and stops on its own (before the cap).
  int exact = 0;
  for (int i = 0; i < 4; ++i) {
    std::ofstream(d("chat.json")) << nlohmann::json{{"messages", {{{"role", "user"}, {"content", who[static_cast<size_t>(i)]["prompt"]}}}}}.dump();
    r = run_cli("generate --model " + d("sft") + " --chat " + d("chat.json") + " --greedy --max-tokens 40");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    exact += r.output.find(" " + who[static_cast<size_t>(i)]["response"].get<std::string>()) == 0;
  }
  EXPECT_GE(exact, 3) << "the last answer: " << r.output;

  // LoRA: generate merges the adapter in memory; `lora merge` writes the same model.
  r = run_cli("lora merge --model " + d("base") + " --adapter " + d("sft-lora") + " --out " + d("sft-merged"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(d("sft-merged/config.json")))["chat_template"], "plain");
  const auto a = run_cli("generate --model " + d("sft-lora") + " --chat " + d("chat.json") + " --greedy --max-tokens 40");
  const auto b = run_cli("generate --model " + d("sft-merged") + " --chat " + d("chat.json") + " --greedy --max-tokens 40");
  ASSERT_EQ(a.exit_code, 0) << a.output;
  EXPECT_EQ(a.output, b.output);

  // The same adapter as a bare PEFT folder (adapter_config.json + adapter_model.safetensors, as
  // PEFT saves it) over the base as a GGUF file: `lora merge` opens both through load() and
  // writes a model whose greedy text is the merged one's.
  r = run_cli("export --model " + d("base") + " --format gguf --out " + d("base.gguf"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  fs::create_directories(d("peft"));
  for (const char* f : {"adapter_config.json", "adapter_model.safetensors"}) fs::copy_file(d("sft-lora/") + f, d("peft/") + f);
  r = run_cli("lora merge --model " + d("base.gguf") + " --adapter " + d("peft") + " --out " + d("peft-merged"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(d("peft-merged/tokenizer.json"))) << "the GGUF file's tokenizer";
  const auto c = run_cli("generate --model " + d("peft-merged") + " --prompt 'Who' --greedy --max-tokens 20");
  const auto c0 = run_cli("generate --model " + d("sft-merged") + " --prompt 'Who' --greedy --max-tokens 20");
  ASSERT_EQ(c.exit_code, 0) << c.output;
  EXPECT_EQ(c.output, c0.output);

  // Bad input: a pair without its response, a frozen base (nothing to train), sft options elsewhere.
  std::ofstream(d("bad-sft.jsonl")) << "{\"prompt\": \"a\", \"response\": \"b\"}\n{\"prompt\": \"no answer\"}\n";
  r = run_cli("finetune --model " + d("base") + " --task sft --train " + d("bad-sft.jsonl") + " --out " + d("z1"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("bad-sft.jsonl:2: missing \"response\""), std::string::npos) << r.output;
  r = run_cli("finetune --model " + d("base") + common + " --freeze-base --out " + d("z2"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("nothing to train for sft"), std::string::npos) << r.output;
  r = run_cli("finetune --model " + d("base") + kCommon + " --train " + d("train.jsonl") + " --packing --out " + d("z3"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--packing is for --task sft"), std::string::npos) << r.output;
}

// ---- fine-tuning through the one training engine (train/training_loop.h) ----

namespace {

// The per-step lines of a fine-tune's metrics.jsonl (validation lines apart).
std::vector<nlohmann::json> step_lines(const std::string& out) {
  std::vector<nlohmann::json> steps;
  std::ifstream in(fs::path(out) / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("lr")) steps.push_back(j);
  }
  return steps;
}

// Two runs' training steps: `steps` of them each, with losses within `loss_rel` and gradient
// norms within `grad_rel` of each other, relatively (0: bit for bit).
void expect_same_steps(const std::string& run_a, const std::string& run_b, size_t steps, double loss_rel, double grad_rel) {
  const auto a = step_lines(run_a), b = step_lines(run_b);
  ASSERT_EQ(a.size(), steps);
  ASSERT_EQ(b.size(), a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const double x = a[i]["loss"].get<double>(), y = b[i]["loss"].get<double>();
    const double g = a[i]["grad_norm"].get<double>(), h = b[i]["grad_norm"].get<double>();
    EXPECT_NEAR(x, y, loss_rel * std::max(1.0, std::abs(x))) << "step " << i + 1;  // a bound of 0 asks for equality
    EXPECT_NEAR(g, h, grad_rel * g) << "step " << i + 1;
  }
}

std::vector<nlohmann::json> validation_lines(const std::string& out) {
  std::vector<nlohmann::json> val;
  std::ifstream in(fs::path(out) / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    if (j.contains("accuracy")) val.push_back(j);
  }
  return val;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

// A LoRA fine-tune with adapter dropout (so the dropout generator's state matters), interrupted
// by a real SIGINT mid-epoch and resumed, ends with the same losses, validation metrics and
// adapter bytes as a straight run; the folder's states are refused or accepted as documented.
TEST_F(Finetune, InterruptedAndResumedEqualsAStraightRun) {
  head(d("train.jsonl"), d("train160.jsonl"), 160);
  const std::string common = "--threads 2 finetune --model " + d("base") + " --task classify --epochs 2 --batch 16 --max-length 64 --lr 3e-3 " +
                             "--lora-rank 4 --lora-dropout 0.1 --train " + d("train160.jsonl") + " --val " + d("val.jsonl") + " --out ";
  auto r = run_cli(common + d("straight"));
  ASSERT_EQ(r.exit_code, 0) << r.output;

  // Ctrl-C from outside once 5 steps are logged: the run stops after the step it is in.
  const auto stopped = run_cli_interrupting(common + d("resumed"), [&] { return count_lines(d("resumed/metrics.jsonl")) >= 5; });
  ASSERT_TRUE(stopped.signalled) << stopped.output;
  ASSERT_EQ(stopped.exit_code, 130) << stopped.output;
  const int64_t at = stopped.stopped_at;
  ASSERT_GT(at, 0) << stopped.output;
  EXPECT_LT(at, 20);
  EXPECT_TRUE(fs::exists(d("resumed/checkpoints/" + checkpoint_name(at) + "/task.json"))) << "a checkpoint is a task folder";
  EXPECT_FALSE(fs::exists(d("resumed/task.json"))) << "an interrupted run is not a finished model";
  r = run_cli(common + d("resumed"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("pass --resume"), std::string::npos) << r.output;
  r = run_cli(common + d("resumed") + " --resume");
  ASSERT_EQ(r.exit_code, 0) << r.output;

  const auto a = step_lines(d("straight")), b = step_lines(d("resumed"));
  ASSERT_EQ(a.size(), 20u) << "160 examples / 16 per step x 2 epochs";
  ASSERT_EQ(b.size(), a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]["loss"].get<double>(), b[i]["loss"].get<double>()) << "step " << i + 1;
    EXPECT_EQ(a[i]["epoch"], b[i]["epoch"]);
  }
  const auto va = validation_lines(d("straight")), vb = validation_lines(d("resumed"));
  ASSERT_EQ(va.size(), 3u) << "before training and after each epoch";
  ASSERT_EQ(vb.size(), 3u);
  EXPECT_EQ(va.back()["confusion"], vb.back()["confusion"]);
  EXPECT_EQ(va.back()["loss"].get<double>(), vb.back()["loss"].get<double>());
  EXPECT_EQ(va.back()["train_loss"].get<double>(), vb.back()["train_loss"].get<double>());
  EXPECT_EQ(file_bytes(d("straight/adapter_model.safetensors")), file_bytes(d("resumed/adapter_model.safetensors")));
  EXPECT_FALSE(fs::exists(d("resumed/checkpoints"))) << "a finished run removes its checkpoints";
  EXPECT_TRUE(fs::exists(d("resumed/finetune.json")));
  r = run_cli(common + d("resumed") + " --resume");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("holds a finished fine-tune"), std::string::npos) << r.output;
}

namespace {

// Runs `common` with --batch 2B and with --batch B --accum 2 into OUT-big and OUT-acc, and
// requires the same `steps` steps (losses within 2e-5, gradient norms within 1e-4, relatively).
void expect_accumulation_matches(const std::string& common, int batch, const std::string& out, size_t steps) {
  auto r = run_cli(common + " --batch " + std::to_string(2 * batch) + " --out " + out + "-big");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_cli(common + " --batch " + std::to_string(batch) + " --accum 2 --out " + out + "-acc");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_same_steps(out + "-big", out + "-acc", steps, 2e-5, 1e-4);
}

}  // namespace

// Accumulating 2 micro-batches of 16 trains as batches of 32 do: the same examples per step (the
// epoch's order is split, not redrawn), the mean loss of the two halves, the same updates.
TEST_F(Finetune, GradientAccumulationEqualsTheLargerBatch) {
  head(d("train.jsonl"), d("train160.jsonl"), 160);
  expect_accumulation_matches("--threads 2 finetune --model " + d("base") + " --task classify --epochs 2 --max-length 64 --lr 1e-3 --train " +
                                  d("train160.jsonl"),
                              16, d("b32"), 10);
}

// sft's loss is a mean over response tokens, which the two halves of a batch hold in different
// numbers: accumulated micro-batches count by their tokens, so 2 x 4 examples train as 8 do.
TEST_F(Finetune, SftAccumulationCountsResponseTokens) {
  write_uneven_sft(d("sft.jsonl"), 64);
  expect_accumulation_matches("--threads 2 finetune --model " + d("base") + " --task sft --epochs 1 --max-length 96 --lr 1e-3 --train " +
                                  d("sft.jsonl"),
                              4, d("sft8"), 8);
}

// --time ends a run whose epochs would take far longer, with its schedule (warm-up included) sized
// to the budget and the task folder written; --checkpoint-activations changes nothing but memory.
TEST_F(Finetune, TimeBudgetAndActivationCheckpointing) {
  head(d("train.jsonl"), d("train160.jsonl"), 160);
  const std::string common = "--threads 2 finetune --model " + d("base") + " --task classify --batch 16 --max-length 64 --lr 1e-3 --train " +
                             d("train160.jsonl");
  auto r = run_cli(common + " --epochs 10000 --time 6s --out " + d("timed"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto steps = step_lines(d("timed"));
  ASSERT_GT(steps.size(), 3u);
  EXPECT_LT(steps.size(), 10000u * 10);
  EXPECT_LT(steps.back()["elapsed_s"].get<double>(), 20.0);
  // Sized to 10000 epochs, the warm-up (6% of the steps) would keep the rate below 1e-3 x 10 / 6000
  // for the whole run; sized to the budget it is over within the first steps. (Where the run ends
  // on the cosine depends on the machine's load, so that is not checked.)
  double peak = 0;
  for (const auto& s : steps) peak = std::max(peak, s["lr"].get<double>());
  EXPECT_GT(peak, 0.5e-3) << "the schedule was sized to the budget";
  EXPECT_TRUE(fs::exists(d("timed/task.json")));

  r = run_cli(common + " --epochs 1 --out " + d("plain"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_cli(common + " --epochs 1 --checkpoint-activations --out " + d("recomputed"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto p = step_lines(d("plain")), c = step_lines(d("recomputed"));
  ASSERT_EQ(p.size(), c.size());
  for (size_t i = 0; i < p.size(); ++i) EXPECT_EQ(p[i]["loss"].get<double>(), c[i]["loss"].get<double>()) << "step " << i + 1;
  EXPECT_LT(c.back()["activation_mb"].get<double>(), p.back()["activation_mb"].get<double>());
}

// LoRA's adapter dropout under activation checkpointing: a block's recomputation in the backward
// pass must draw the same adapter masks as its forward did, or the gradients belong to another
// network. The losses after the first step and every gradient norm show it.
TEST_F(Finetune, LoRADropoutUnderActivationCheckpointingTrainsTheSameNetwork) {
  head(d("train.jsonl"), d("train96.jsonl"), 96);
  const std::string common = "--threads 2 finetune --model " + d("base") + " --task classify --epochs 1 --batch 16 --max-length 64 " +
                             "--lr 3e-3 --lora-rank 4 --lora-dropout 0.3 --train " + d("train96.jsonl");
  auto r = run_cli(common + " --out " + d("lora-plain"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_cli(common + " --checkpoint-activations --out " + d("lora-recomputed"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_same_steps(d("lora-plain"), d("lora-recomputed"), 6, 0, 0);
  EXPECT_EQ(file_bytes(d("lora-plain/adapter_model.safetensors")), file_bytes(d("lora-recomputed/adapter_model.safetensors")));
}

// A GGUF file is as good a base as a folder: LoRA on the base exported to GGUF (f32, the same
// weights) trains with the same losses, and the task folder reopens over the GGUF base.
TEST_F(Finetune, AGGUFBaseTrainsLikeItsFolder) {
  head(d("train.jsonl"), d("train96.jsonl"), 96);
  auto r = run_cli("export --model " + d("base") + " --format gguf --out " + d("base-ft.gguf"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string common = " --task classify --epochs 1 --batch 16 --max-length 64 --lr 3e-3 --lora-rank 4 --train " + d("train96.jsonl");
  r = run_cli("--threads 2 finetune --model " + d("base") + common + " --out " + d("from-folder"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_cli("--threads 2 finetune --model " + d("base-ft.gguf") + common + " --out " + d("from-gguf"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto a = step_lines(d("from-folder")), b = step_lines(d("from-gguf"));
  ASSERT_EQ(a.size(), 6u);
  ASSERT_EQ(b.size(), a.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i]["loss"].get<double>(), b[i]["loss"].get<double>()) << "step " << i + 1;
  r = run_cli("evaluate --model " + d("from-gguf") + " --data " + d("val.jsonl") + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto e = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_GT(e["accuracy"].get<double>(), 0.5) << e.dump();
}

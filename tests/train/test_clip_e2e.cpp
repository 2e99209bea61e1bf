// CLIP through the CLI on emoji from Debian's fonts (`dataset emoji`): a tiny model pretrained on
// the image-caption pairs lowers its contrastive loss and resumes exactly after a SIGINT; the
// folder is a transformers CLIPModel with its tokenizer; `evaluate` reports retrieval recall and
// zero-shot group accuracy, `classify` picks among --labels, `embed --image` and `embed` put images
// and captions in one space; bad data and wrong uses are named.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;
namespace fs = std::filesystem;

namespace {

const char* kClip = R"({
  "model": {"arch": "clip", "image_size": 16, "patch_size": 4, "vision_layers": 2, "vision_d_model": 32, "vision_heads": 2,
            "vision_d_ff": 64, "vocab_size": 320, "context": 24, "text_layers": 2, "text_d_model": 32, "text_heads": 2,
            "text_d_ff": 64, "projection_dim": 16},
  "training": {"batch_size": 32, "steps": 30, "lr": 2e-3, "min_lr": 2e-4, "warmup_steps": 3, "eval_every": 15, "eval_batches": 2,
               "checkpoint_every": 10, "seed": 3},
  "augment": {"crop_padding": 1}
})";

std::vector<nlohmann::json> step_metrics(const std::string& run) {
  std::vector<nlohmann::json> out;
  std::ifstream in(fs::path(run) / "metrics.jsonl");
  for (std::string line; std::getline(in, line);)
    if (auto j = nlohmann::json::parse(line); j.contains("loss")) out.push_back(j);
  return out;
}

std::vector<std::vector<double>> rows_of(const std::string& text) {
  std::vector<std::vector<double>> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream l(line);
    std::vector<double> v;
    for (double x; l >> x;) v.push_back(x);
    if (!v.empty()) out.push_back(v);
  }
  return out;
}

}  // namespace

TEST(ClipPretrain, TinyClipOnEmojiLearnsEvaluatesClassifiesEmbedsAndResumesExactly) {
  const std::string dir = fresh_temp_dir("clip_e2e");
  auto r = run_cli("dataset emoji --out " + dir + "/emoji --size 16 --val-fraction 0.1 --test-fraction 0.1 --vocab-size 320");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ofstream(dir + "/clip.json") << kClip;
  r = run_cli("pretrain --config " + dir + "/clip.json --data " + dir + "/emoji --out " + dir + "/run");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("image-text contrastive ("), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("recall@5 i->t"), std::string::npos) << r.output;
  const auto m = step_metrics(dir + "/run");
  ASSERT_EQ(m.size(), 30u);
  double first = 0, last = 0;
  for (size_t i = 0; i < 5; ++i) first += m[i]["loss"].get<double>() / 5;
  for (size_t i = 25; i < 30; ++i) last += m[i]["loss"].get<double>() / 5;
  EXPECT_LT(last, first - 0.3) << "the contrastive loss falls";
  EXPECT_TRUE(m.back().contains("val_i2t_recall@5"));
  EXPECT_TRUE(m.back().contains("pairs_per_s")) << "an image-text run counts pairs";
  const auto config = nlohmann::json::parse(std::ifstream(dir + "/run/config.json"));
  EXPECT_EQ(config["architectures"][0], "CLIPModel");
  EXPECT_EQ(config["text_config"]["eos_token_id"], 0);
  EXPECT_TRUE(fs::exists(dir + "/run/tokenizer.json")) << "the run carries the captions' tokenizer";

  // evaluate: retrieval among the test pairs, zero-shot into the groups.
  r = run_cli("evaluate --model " + dir + "/run --data " + dir + "/emoji --split test --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto e = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(e["metric"], "image-text");
  EXPECT_GT(e["retrieval"]["pairs"].get<int>(), 10);
  EXPECT_GE(e["retrieval"]["image_to_text_recall@10"].get<double>(), e["retrieval"]["image_to_text_recall@1"].get<double>());
  EXPECT_TRUE(e["zero_shot"].contains("accuracy"));
  EXPECT_TRUE(e["zero_shot"].contains("majority_rate"));
  r = run_cli("evaluate --model " + dir + "/run --data " + dir + "/emoji --split test --template 'no placeholder'");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("has no {}"), std::string::npos) << r.output;

  // classify: probabilities over the given labels, summing to 1.
  std::ifstream test_split(dir + "/emoji/test.jsonl");
  std::string line;
  std::getline(test_split, line);
  const std::string image = dir + "/emoji/" + nlohmann::json::parse(line)["image"].get<std::string>();
  r = run_cli("classify --model " + dir + "/run --labels 'Smileys & Emotion,People & Body,Animals & Nature' --top 3 --json " + image + " " + image);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::istringstream lines(r.output);
  int n = 0;
  for (std::string l; std::getline(lines, l);) {
    if (l.empty() || l[0] != '{') continue;
    const auto j = nlohmann::json::parse(l);
    ASSERT_EQ(j["labels"].size(), 3u);
    double sum = 0;
    for (const auto& x : j["labels"]) sum += x["probability"].get<double>();
    EXPECT_NEAR(sum, 1.0, 1e-4);
    ++n;
  }
  EXPECT_EQ(n, 2);
  // Labels from a file, one per line (commas allowed).
  std::ofstream(dir + "/labels.txt") << "a face, smiling\nSmileys & Emotion\n";
  r = run_cli("classify --model " + dir + "/run --labels-file " + dir + "/labels.txt --json " + image);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"label\":\"a face, smiling\""), std::string::npos) << r.output;
  r = run_cli("classify --model " + dir + "/run " + image);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("needs --labels"), std::string::npos) << r.output;

  // embed --image and embed: unit vectors of the projection width, in one space.
  std::ofstream(dir + "/images.txt") << image << "\n";
  r = run_cli("embed --model " + dir + "/run --image < " + dir + "/images.txt");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto v = rows_of(r.output);
  ASSERT_EQ(v.size(), 1u);
  ASSERT_EQ(v[0].size(), 16u);
  double norm = 0;
  for (double x : v[0]) norm += x * x;
  EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-4);
  std::ofstream(dir + "/texts.txt") << "grinning face (Smileys & Emotion)\nred apple (Food & Drink)\n";
  r = run_cli("embed --model " + dir + "/run < " + dir + "/texts.txt");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  v = rows_of(r.output);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[1].size(), 16u);
  r = run_cli("embed --model " + dir + "/run --image --pooling mean < " + dir + "/images.txt");
  EXPECT_NE(r.exit_code, 0);

  // Interrupted by a real SIGINT, then resumed: every loss bit-identical.
  const std::string half = dir + "/half";
  const auto stopped = run_cli_interrupting("pretrain --config " + dir + "/clip.json --data " + dir + "/emoji --out " + half,
                                            [&] { return count_lines(half + "/metrics.jsonl") >= 12; });
  ASSERT_TRUE(stopped.signalled) << "the run ended before it could be interrupted\n" << stopped.output;
  ASSERT_GT(stopped.stopped_at, 0) << stopped.output;
  r = run_cli("pretrain --config " + dir + "/clip.json --data " + dir + "/emoji --out " + half + " --resume");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto resumed = step_metrics(half);
  ASSERT_EQ(resumed.size(), 30u);
  for (size_t i = 0; i < 30; ++i) EXPECT_EQ(resumed[i]["loss"], m[i]["loss"]) << "step " << i + 1;
  fs::remove_all(dir);
}

TEST(ClipPretrain, BadCaptionDataIsNamed) {
  const std::string dir = fresh_temp_dir("clip_bad");
  auto r = run_cli("dataset emoji --out " + dir + "/emoji --size 16 --limit 40 --val-fraction 0.2 --test-fraction 0.2 --vocab-size 320");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ofstream(dir + "/clip.json") << kClip;
  // No tokenizer for the captions.
  fs::copy(dir + "/emoji", dir + "/notok", fs::copy_options::recursive);
  fs::remove(dir + "/notok/tokenizer.json");
  r = run_cli("pretrain --config " + dir + "/clip.json --data " + dir + "/notok --out " + dir + "/r1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("has no tokenizer.json for the captions"), std::string::npos) << r.output;
  // Lines without captions (a labelled image set is not image-text data).
  fs::create_directories(dir + "/nocap");
  fs::copy(dir + "/emoji/tokenizer.json", dir + "/nocap/tokenizer.json");
  {
    std::ifstream in(dir + "/emoji/train.jsonl");
    std::ofstream out(dir + "/nocap/train.jsonl");
    for (std::string line; std::getline(in, line);) {
      auto j = nlohmann::json::parse(line);
      j.erase("text");
      j["image"] = (fs::path(dir) / "emoji" / j["image"].get<std::string>()).string();
      out << j.dump() << "\n";
    }
  }
  r = run_cli("pretrain --config " + dir + "/clip.json --data " + dir + "/nocap --out " + dir + "/r2");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("needs a \"text\" caption on every line"), std::string::npos) << r.output;
  // A tokenizer larger than the text tower's vocabulary.
  std::string small = kClip;
  small.replace(small.find("\"vocab_size\": 320"), 17, "\"vocab_size\": 100");
  std::ofstream(dir + "/small.json") << small;
  r = run_cli("pretrain --config " + dir + "/small.json --data " + dir + "/emoji --out " + dir + "/r3");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("the model's text tower holds 100"), std::string::npos) << r.output;
  // A caption that is not a string.
  fs::create_directories(dir + "/badtext");
  fs::copy(dir + "/emoji/tokenizer.json", dir + "/badtext/tokenizer.json");
  std::ofstream(dir + "/badtext/train.jsonl") << "{\"image\": \"x.png\", \"text\": 3}\n";
  r = run_cli("pretrain --config " + dir + "/clip.json --data " + dir + "/badtext --out " + dir + "/r4");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("train.jsonl:1: \"text\" must be a string"), std::string::npos) << r.output;
  fs::remove_all(dir);
}

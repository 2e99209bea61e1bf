// Image classification through the CLI: a tiny ViT pretrained on Fashion-MNIST (Debian's
// dataset-fashion-mnist) for a few steps lowers its loss, evaluates on the 10,000 test images, and
// resumes exactly; a tiny BiT trains on class folders of PNGs and evaluates on an image JSONL; bad
// image data is an error naming it.
#include <gtest/gtest.h>
#include <stb/stb_image_write.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "cornerstone/models/load.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;
namespace fs = std::filesystem;

namespace {

const char* kFashion = "/usr/share/datasets/fashion-mnist";

const char* kViT = R"({
  "model": {"arch": "vit", "n_layers": 2, "d_model": 32, "n_heads": 2, "d_ff": 64, "patch_size": 7,
            "labels": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]},
  "training": {"batch_size": 32, "steps": 40, "lr": 5e-3, "min_lr": 5e-4, "warmup_steps": 5, "eval_every": 20, "eval_batches": 2,
               "checkpoint_every": 20, "seed": 3},
  "augment": {"crop_padding": 2, "flip": true}
})";

// The training steps' lines of metrics.jsonl (not the validation before the first step).
std::vector<nlohmann::json> metrics(const std::string& run) {
  std::vector<nlohmann::json> out;
  std::ifstream in(fs::path(run) / "metrics.jsonl");
  for (std::string line; std::getline(in, line);)
    if (auto j = nlohmann::json::parse(line); j.contains("loss")) out.push_back(j);
  return out;
}

double mean_loss(const std::vector<nlohmann::json>& m, size_t begin, size_t end) {
  double s = 0;
  for (size_t i = begin; i < end; ++i) s += m[i]["loss"].get<double>();
  return s / static_cast<double>(end - begin);
}

}  // namespace

TEST(ImagePretrain, TinyViTOnFashionMnistLearnsEvaluatesAndResumesExactly) {
  const std::string dir = fresh_temp_dir("image_pretrain");
  std::ofstream(dir + "/vit.json") << kViT;
  auto r = run_cli("pretrain --config " + dir + "/vit.json --data " + kFashion + " --out " + dir + "/run");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("image classification (60000 images, 10 classes)"), std::string::npos) << r.output;
  const auto m = metrics(dir + "/run");
  ASSERT_EQ(m.size(), 40u);
  EXPECT_LT(mean_loss(m, 30, 40), mean_loss(m, 0, 5) - 0.1) << "the training loss falls";
  EXPECT_TRUE(m.back().contains("val_accuracy"));
  EXPECT_TRUE(m.back().contains("images_per_s")) << "an image run counts images, not tokens";
  EXPECT_FALSE(m.back().contains("tokens_per_s"));
  EXPECT_NE(r.output.find(" images/s | model in "), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(dir + "/run/model.safetensors"));
  const auto config = nlohmann::json::parse(std::ifstream(dir + "/run/config.json"));
  EXPECT_EQ(config["architectures"][0], "ViTForImageClassification");
  EXPECT_EQ(config["id2label"]["9"], "Ankle boot");

  r = run_cli("evaluate --model " + dir + "/run --data " + kFashion + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto e = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(e["examples"], 10000);
  EXPECT_GT(e["accuracy"].get<double>(), 0.0);
  EXPECT_EQ(e["labels"][0], "T-shirt/top");
  // Text fine-tuning refuses an image classifier, pointing at the image path.
  std::ofstream(dir + "/text.jsonl") << "{\"text\": \"a shirt\", \"label\": \"top\"}\n";
  r = run_cli("finetune --model " + dir + "/run --task classify --train " + dir + "/text.jsonl --out " + dir + "/ft");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("is an image classifier (vit)"), std::string::npos) << r.output;
  // So does `embed`, saying why (not that a tokenizer is missing).
  std::ofstream(dir + "/lines.txt") << "a shirt\n";
  r = run_cli("embed --model " + dir + "/run < " + dir + "/lines.txt");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("cannot embed text (an image model reads pixels"), std::string::npos) << r.output;

  // The same run interrupted by a real SIGINT after a few steps, then resumed: the remaining steps
  // draw the same batches and augmentations, and every loss is bit-identical.
  const std::string half = dir + "/half";
  const auto stopped = run_cli_interrupting("pretrain --config " + dir + "/vit.json --data " + kFashion + " --out " + half,
                                            [&] { return count_lines(half + "/metrics.jsonl") >= 8; });
  ASSERT_TRUE(stopped.signalled) << "the run ended before it could be interrupted\n" << stopped.output;
  EXPECT_EQ(stopped.exit_code, 130) << stopped.output;
  ASSERT_GT(stopped.stopped_at, 0) << stopped.output;
  r = run_cli("pretrain --config " + dir + "/vit.json --data " + kFashion + " --out " + half + " --resume");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto resumed = metrics(half);
  ASSERT_EQ(resumed.size(), 40u);
  for (size_t i = 0; i < 40; ++i) EXPECT_EQ(resumed[i]["loss"], m[i]["loss"]) << "step " << i + 1 << " (interrupted after " << stopped.stopped_at << ")";
  EXPECT_EQ(resumed.back()["val_loss"], m.back()["val_loss"]);
  fs::remove_all(dir);
}

TEST(ImagePretrain, TinyBitOnClassFoldersAndJsonl) {
  const std::string dir = fresh_temp_dir("image_pretrain_bit");
  // Two classes of 16 x 16 images: a bright square top-left or bottom-right on gray noise.
  std::string jsonl;
  for (const char* split : {"train", "test"})
    for (int cls = 0; cls < 2; ++cls) {
      const std::string name = cls == 0 ? "top" : "bottom";
      fs::create_directories(fs::path(dir) / split / name);
      for (int i = 0; i < 12; ++i) {
        std::vector<uint8_t> px(16 * 16);
        for (size_t p = 0; p < px.size(); ++p) px[p] = static_cast<uint8_t>((p * 37 + static_cast<size_t>(i) * 11) % 64);
        for (int y = 0; y < 6; ++y)
          for (int x = 0; x < 6; ++x) px[static_cast<size_t>((cls ? 9 + y : 1 + y) * 16 + (cls ? 9 + x : 1 + x))] = 250;
        const std::string file = std::string(split) + "/" + name + "/" + std::to_string(i) + ".png";
        ASSERT_TRUE(stbi_write_png((fs::path(dir) / file).c_str(), 16, 16, 1, px.data(), 16));
        if (std::string(split) == "test") jsonl += "{\"image\": \"" + file + "\", \"label\": \"" + name + "\"}\n";
      }
    }
  std::ofstream(dir + "/test.jsonl") << jsonl;
  std::ofstream(dir + "/bit.json") << R"({
    "model": {"arch": "bit", "embedding_size": 8, "hidden_sizes": [16, 32], "depths": [1, 1], "num_groups": 4,
              "image_size": 16, "labels": ["bottom", "top"]},
    "training": {"batch_size": 8, "steps": 12, "lr": 3e-3, "warmup_steps": 2, "eval_every": 6, "eval_batches": 3}
  })";
  auto r = run_cli("pretrain --config " + dir + "/bit.json --data " + dir + " --out " + dir + "/run");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("24 images, 2 classes"), std::string::npos) << r.output;
  const auto config = nlohmann::json::parse(std::ifstream(dir + "/run/config.json"));
  EXPECT_EQ(config["architectures"][0], "BitForImageClassification");
  r = run_cli("evaluate --model " + dir + "/run --data " + dir + "/test.jsonl --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(r.output.substr(r.output.find('{')))["examples"], 24);

  // Transfer: the same images under other class names, a model with those labels started from the
  // trained backbone, and only its new head trained (a linear probe).
  fs::create_directories(fs::path(dir) / "renamed" / "train");
  for (const auto& [from, to] : {std::pair{"top", "up"}, std::pair{"bottom", "down"}})
    fs::copy(fs::path(dir) / "train" / from, fs::path(dir) / "renamed" / "train" / to, fs::copy_options::recursive);
  std::ofstream(dir + "/probe.json") << R"({
    "model": {"arch": "bit", "embedding_size": 8, "hidden_sizes": [16, 32], "depths": [1, 1], "num_groups": 4,
              "image_size": 16, "labels": ["down", "up"]},
    "training": {"batch_size": 8, "steps": 4, "lr": 3e-3, "warmup_steps": 1, "eval_every": 0}
  })";
  r = run_cli("pretrain --config " + dir + "/probe.json --data " + dir + "/renamed --out " + dir + "/probe --init " + dir +
              "/run --freeze-backbone");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("with a new head for 2 labels"), std::string::npos) << r.output;
  const auto base = models::load_model(dir + "/run"), probe = models::load_model(dir + "/probe");
  for (const auto& [name, p] : base->named_parameters()) {
    const bool same = probe->parameter(name).to_vector() == p.to_vector();
    if (name.rfind("classifier.", 0) == 0) EXPECT_FALSE(same) << name << ": the head trains";
    else EXPECT_TRUE(same) << name << ": the backbone stays frozen";
  }
  // Without labels in common there is no transfer between shapes: another width is refused.
  std::ofstream(dir + "/wide.json") << R"({"model": {"arch": "bit", "embedding_size": 8, "hidden_sizes": [16, 64], "depths": [1, 1],
    "num_groups": 4, "image_size": 16, "labels": ["down", "up"]}, "training": {"steps": 2}})";
  r = run_cli("pretrain --config " + dir + "/wide.json --data " + dir + "/renamed --out " + dir + "/wide --init " + dir + "/run");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("hidden_sizes"), std::string::npos) << r.output;
  fs::remove_all(dir);
}

TEST(ImagePretrain, BadImageDataIsNamed) {
  const std::string dir = fresh_temp_dir("image_pretrain_bad");
  std::ofstream(dir + "/vit.json") << kViT;
  // No images at all.
  auto r = run_cli("pretrain --config " + dir + "/vit.json --data " + dir + " --out " + dir + "/run");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("has no train images"), std::string::npos) << r.output;
  // A class folder holding a file that is not the image its name says (a two-class model whose
  // classes are the folders).
  fs::create_directories(dir + "/train/a");
  fs::create_directories(dir + "/train/b");
  std::ofstream(dir + "/train/a/x.png") << "not a png";
  std::ofstream(dir + "/two.json") << R"({"model": {"arch": "vit", "n_layers": 1, "d_model": 16, "n_heads": 2, "d_ff": 32,
                                                    "patch_size": 7, "num_labels": 2}, "training": {"steps": 2}})";
  r = run_cli("pretrain --config " + dir + "/two.json --data " + dir + " --out " + dir + "/run");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("x.png: cannot read the image"), std::string::npos) << r.output;
  // Two classes for a ten-label model.
  const std::vector<uint8_t> px(28 * 28, 100);
  fs::remove(dir + "/train/a/x.png");
  ASSERT_TRUE(stbi_write_png((dir + "/train/a/x.png").c_str(), 28, 28, 1, px.data(), 28));
  ASSERT_TRUE(stbi_write_png((dir + "/train/b/y.png").c_str(), 28, 28, 1, px.data(), 28));
  r = run_cli("pretrain --config " + dir + "/vit.json --data " + dir + " --out " + dir + "/run");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("label 'a' is not one of the 10 classes"), std::string::npos) << r.output;
  // A truncated IDX file.
  fs::create_directories(dir + "/idx");
  std::ofstream(dir + "/idx/train-images-idx3-ubyte", std::ios::binary) << std::string("\0\0\x08\x03\0\0\0\x02\0\0\0\x1c\0\0\0\x1c", 16) << "short";
  std::ofstream(dir + "/idx/train-labels-idx1-ubyte", std::ios::binary) << std::string("\0\0\x08\x01\0\0\0\x02\x01\x02", 10);
  r = run_cli("pretrain --config " + dir + "/vit.json --data " + dir + "/idx --out " + dir + "/run");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("train-images-idx3-ubyte: truncated"), std::string::npos) << r.output;
  // pretrain --help names the image sources.
  r = run_cli("pretrain --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("fashion-mnist"), std::string::npos) << r.output;
  fs::remove_all(dir);
}

TEST(ImagePretrain, AModelWithoutLabelNamesTakesTheTrainingClasses) {
  // The test split lacks class "b": its ids must still be the training split's (a=0, b=1, c=2).
  const std::string dir = fresh_temp_dir("image_pretrain_names");
  for (const char* split : {"train", "test"})
    for (const char* cls : {"a", "b", "c"}) {
      if (std::string(split) == "test" && std::string(cls) == "b") continue;
      fs::create_directories(fs::path(dir) / split / cls);
      for (int i = 0; i < 3; ++i) {
        const std::vector<uint8_t> px(8 * 8, static_cast<uint8_t>(40 * (cls[0] - 'a') + 10 * i));
        ASSERT_TRUE(stbi_write_png((fs::path(dir) / split / cls / (std::to_string(i) + ".png")).c_str(), 8, 8, 1, px.data(), 8));
      }
    }
  std::ofstream(dir + "/vit.json") << R"({"model": {"arch": "vit", "n_layers": 1, "d_model": 16, "n_heads": 2, "d_ff": 32,
    "patch_size": 4, "image_size": 8, "num_labels": 3}, "training": {"batch_size": 4, "steps": 3, "warmup_steps": 1, "eval_every": 0}})";
  auto r = run_cli("pretrain --config " + dir + "/vit.json --data " + dir + " --out " + dir + "/run");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto config = nlohmann::json::parse(std::ifstream(dir + "/run/config.json"));
  EXPECT_EQ(config["id2label"], (nlohmann::json{{"0", "a"}, {"1", "b"}, {"2", "c"}}));
  r = run_cli("evaluate --model " + dir + "/run --data " + dir + " --split test --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto e = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(e["examples"], 6);
  EXPECT_EQ(e["labels"], (nlohmann::json{"a", "b", "c"}));
  fs::remove_all(dir);
}

// LoRA on a ViT backbone (pretrain --init --lora-rank): only the attention projections' adapters
// and the head train; the finished run folder holds the folded model, which evaluates; an
// interrupted run resumes from its checkpoint's adapters to the same losses and weights.
TEST(ImagePretrain, LoraOnAViTBackboneTrainsAdaptersAndHeadFoldsAndResumesExactly) {
  const std::string dir = fresh_temp_dir("image_pretrain_lora");
  std::ofstream(dir + "/vit.json") << kViT;
  auto r = run_cli("pretrain --config " + dir + "/vit.json --data " + kFashion + " --out " + dir + "/base --steps 12");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string lora = "pretrain --config " + dir + "/vit.json --data " + kFashion + " --init " + dir + "/base --lora-rank 4 --steps 16 --out ";
  r = run_cli(lora + dir + "/lora");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto training = nlohmann::json::parse(std::ifstream(dir + "/lora/training.json"));
  EXPECT_EQ(training["adaptation"]["lora"]["rank"], 4);
  const auto base = models::load_model(dir + "/base"), tuned = models::load_model(dir + "/lora");
  int64_t adapted = 0;
  for (const auto& [name, p] : base->named_parameters()) {
    const bool same = tuned->parameter(name).to_vector() == p.to_vector();
    const bool trains = name.rfind("classifier.", 0) == 0 || (name.find(".attn.") != std::string::npos && name.ends_with(".weight"));
    if (trains) EXPECT_FALSE(same) << name << ": adapted (attention weights, folded) or trained (the head)";
    else EXPECT_TRUE(same) << name << ": frozen";
    adapted += trains && name.find(".attn.") != std::string::npos;
  }
  EXPECT_EQ(adapted, 4) << "qkv and proj of 2 blocks (the default targets: attn)";
  r = run_cli("evaluate --model " + dir + "/lora --data " + kFashion + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_GT(nlohmann::json::parse(r.output.substr(r.output.find('{')))["accuracy"].get<double>(), 0.2);

  const std::string half = dir + "/half";
  const auto stopped = run_cli_interrupting(lora + half, [&] { return count_lines(half + "/metrics.jsonl") >= 6; });
  ASSERT_TRUE(stopped.signalled) << stopped.output;
  ASSERT_GT(stopped.stopped_at, 0) << stopped.output;
  EXPECT_TRUE(fs::exists(half + "/checkpoints/" + checkpoint_name(stopped.stopped_at) + "/adapter_model.safetensors"));
  EXPECT_FALSE(fs::exists(half + "/model.safetensors")) << "an unfinished LoRA run has no folded model yet";
  r = run_cli(lora + half + " --resume");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto a = metrics(dir + "/lora"), b = metrics(half);
  ASSERT_EQ(a.size(), 16u);
  ASSERT_EQ(b.size(), a.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i]["loss"], b[i]["loss"]) << "step " << i + 1;
  const auto resumed = models::load_model(half);
  for (const auto& [name, p] : tuned->named_parameters()) EXPECT_EQ(resumed->parameter(name).to_vector(), p.to_vector()) << name;

  r = run_cli("pretrain --config " + dir + "/vit.json --data " + kFashion + " --lora-rank 4 --out " + dir + "/x1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("give it with --init"), std::string::npos) << r.output;
  r = run_cli(lora + dir + "/x2 --freeze-backbone");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("do not combine"), std::string::npos) << r.output;
  fs::remove_all(dir);
}

// The image classifier families against the PyTorch reference (tests/reference/models.py, the module
// trees of transformers' ViTForImageClassification and BitForImageClassification) loading
// Cornerstone's folders: loss, logits and every parameter gradient; plus parameter counts, the HF
// config round trip, presets, reloading, and the bad inputs.
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/models/bit/bit.h"
#include "cornerstone/models/load.h"
#include "cornerstone/models/vit/vit.h"
#include "op_check.h"
#include "hf_gradients.h"
#include "oracle.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;
namespace fs = std::filesystem;

namespace {

models::ViTConfig tiny_vit() {
  models::ViTConfig c;
  c.image.channels = 3, c.image.image_size = 8, c.image.num_labels = 5, c.image.mean = {0.4f, 0.5f, 0.6f}, c.image.std = {0.2f, 0.3f, 0.25f};
  c.patch_size = 4, c.n_layers = 2, c.d_model = 16, c.n_heads = 2, c.d_ff = 32, c.init_std = 0.2f;
  return c;
}

models::BitConfig tiny_bit() {
  models::BitConfig c;
  c.image.channels = 1, c.image.image_size = 16, c.image.num_labels = 3, c.image.labels = {"cat", "dog", "eel"};
  c.embedding_size = 8, c.hidden_sizes = {16, 32}, c.depths = {2, 1}, c.num_groups = 4;
  return c;
}

std::string save_temp(const models::PretrainedModel& model, const std::string& tag) {
  const fs::path dir = fs::temp_directory_path() / ("cs_vision_" + tag + std::to_string(::getpid()));
  fs::create_directories(dir);
  models::save_model(model, dir.string());
  return dir.string();
}

// Loss, logits and every gradient (in Hugging Face names) against the reference, float32 and float64.
void check_against_reference(const models::ModelConfig& cfg, const std::string& tag) {
  const auto model = cfg.create(7);
  // Non-trivial norms: the initial 1 / 0 gains and biases would hide a swapped weight and bias.
  Rng perturb(3);
  for (auto& [n, p] : model->named_parameters())
    if (n.find("norm") != std::string::npos) p.detach().copy_from(Tensor::uniform(p.shape(), perturb, 0.5f, 1.5f));
  const std::string dir = save_temp(*model, tag);
  const auto* classifier = model->as<models::ImageClassifier>();
  ASSERT_NE(classifier, nullptr);
  const models::ImageSpec& spec = classifier->image_spec();
  Rng rng(11);
  const Tensor pixels = Tensor::uniform({3, spec.channels, spec.image_size, spec.image_size}, rng, -2.0f, 2.0f);
  const Tensor labels = Tensor::from_data({3}, std::vector<int32_t>{1, 0, static_cast<int32_t>(spec.num_labels - 1)});
  const Tensor logits = classifier->image_logits(pixels);
  data::Batch batch;
  batch.set(data::batch_keys::pixels, pixels).set(data::batch_keys::labels, labels);
  Tensor loss = classifier->image_loss(batch);
  loss.backward();

  nlohmann::json names = nlohmann::json::array();
  for (const auto& [n, t] : model->hf_state_dict()) names.push_back(n);
  nlohmann::json attrs = {{"dir", dir}, {"names", names}};
  const auto ref = Oracle::instance().run("image_classifier", {pixels, labels}, attrs);
  attrs["float64"] = true;
  const auto exact = Oracle::instance().run("image_classifier", {pixels, labels}, attrs);
  EXPECT_TRUE(all_close(loss.detach(), ref.outputs[0], 1e-5, 1e-6)) << "loss";
  EXPECT_TRUE(all_close(logits.detach(), ref.outputs[1], 1e-4, 1e-5)) << "logits";
  EXPECT_TRUE(as_accurate_as_torch(logits.detach(), ref.outputs[1], exact.outputs[1])) << "logits";

  expect_hf_gradients_match(cfg, *model, ref, exact, 2);

  // The folder reloads to the same logits.
  const auto loaded = models::load_model(dir);
  EXPECT_EQ(loaded->model_type(), cfg.model_type());
  EXPECT_TRUE(all_close(loaded->as<models::ImageClassifier>()->image_logits(pixels), logits.detach(), 0, 0));
  fs::remove_all(dir);
}

}  // namespace

TEST(ViT, LogitsLossAndEveryGradientMatchThePyTorchReference) { check_against_reference(tiny_vit(), "vit"); }

TEST(Bit, LogitsLossAndEveryGradientMatchThePyTorchReference) { check_against_reference(tiny_bit(), "bit"); }

TEST(ViT, ParameterCountsPresetsAndConfigs) {
  for (const auto& name : models::ViTConfig::preset_names()) {
    const auto c = models::ViTConfig::preset(name);
    EXPECT_EQ(models::ViTConfig::from_hf(c.hf_config(), "x").to_json(), c.to_json()) << name;
  }
  EXPECT_EQ(models::ViTConfig::preset("vit-tiny").num_parameters(), 5353738);
  models::ViT m(tiny_vit(), 1);
  EXPECT_EQ(m.num_parameters(), m.config().num_parameters());
  EXPECT_EQ(m.capabilities(), (std::vector<std::string>{"image-classifier"}));
  auto j = tiny_vit().to_json();
  j["patch_size"] = 3;
  EXPECT_THROW(models::ViTConfig::from_json(j, {}, "model"), ValueError);  // 8 is not a multiple of 3
  j = tiny_vit().to_json();
  j["n_layer"] = 3;
  try {
    models::ViTConfig::from_json(j, {}, "model");
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown key 'n_layer'"), std::string::npos) << e.what();
  }
  Rng rng(1);
  try {
    m.image_logits(Tensor::uniform({2, 1, 8, 8}, rng, 0, 1));
    FAIL();
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("(B, 3, 8, 8)"), std::string::npos) << e.what();
  }
}

TEST(Bit, ParameterCountsPresetsAndConfigs) {
  for (const auto& name : models::BitConfig::preset_names()) {
    const auto c = models::BitConfig::preset(name);
    EXPECT_EQ(models::BitConfig::from_hf(c.hf_config(), "x").to_json(), c.to_json()) << name;
    EXPECT_EQ(c.create(1)->num_parameters(), c.num_parameters()) << name;
  }
  models::Bit m(tiny_bit(), 1);
  EXPECT_EQ(m.num_parameters(), m.config().num_parameters());
  const auto hf = tiny_bit().hf_config();
  EXPECT_EQ(hf["id2label"]["2"], "eel");
  EXPECT_EQ(models::BitConfig::from_hf(hf, "x").image.labels, tiny_bit().image.labels);
  auto bad = hf;
  bad["layer_type"] = "bottleneck";
  EXPECT_THROW(models::BitConfig::from_hf(bad, "x"), UnsupportedError);
  auto j = tiny_bit().to_json();
  j["num_groups"] = 3;
  EXPECT_THROW(models::BitConfig::from_json(j, {}, "model"), ValueError);
  // transformers' make_div.
  EXPECT_EQ(models::BitConfig::mid_channels(256), 64);
  EXPECT_EQ(models::BitConfig::mid_channels(16), 8);
  EXPECT_EQ(models::BitConfig::mid_channels(100), 24);
}

// CLIP against the PyTorch reference (tests/reference/models.py: transformers' CLIPModel module tree,
// pooling at the first end-of-text token as transformers does) loading Cornerstone's folder: the
// symmetric contrastive loss, the logits and every parameter gradient; plus the config round trip,
// parameter counts, reloading, the retrieval metric and the bad inputs.
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/models/clip/clip.h"
#include "cornerstone/models/image_text.h"
#include "cornerstone/models/load.h"
#include "cornerstone/ops/norm.h"
#include "op_check.h"
#include "hf_gradients.h"
#include "oracle.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;
namespace fs = std::filesystem;

namespace {

models::ClipConfig tiny_clip() {
  models::ClipConfig c;
  c.image.channels = 3, c.image.image_size = 8, c.image.mean = {0.4f, 0.5f, 0.6f}, c.image.std = {0.2f, 0.3f, 0.25f};
  c.patch_size = 4, c.vision_layers = 2, c.vision_d_model = 16, c.vision_heads = 2, c.vision_d_ff = 32;
  c.vocab_size = 23, c.context = 7, c.text_layers = 2, c.text_d_model = 12, c.text_heads = 3, c.text_d_ff = 20;
  c.projection_dim = 10, c.eos_token_id = 0, c.init_std = 0.2f;
  return c;
}

// Captions of different lengths, each ending with the end-of-text token 0, padded with it.
data::Batch captions() {
  return models::caption_batch({{5, 9, 3, 0}, {7, 0}, {22, 1, 4, 6, 2, 0}}, 0);
}

}  // namespace

TEST(Clip, LossLogitsAndEveryGradientMatchThePyTorchReference) {
  const models::ClipConfig cfg = tiny_clip();
  const auto model = cfg.create(7);
  Rng perturb(3);
  for (auto& [n, p] : model->named_parameters())
    if (n.find("norm") != std::string::npos) p.detach().copy_from(Tensor::uniform(p.shape(), perturb, 0.5f, 1.5f));
  model->parameter("logit_scale").detach().copy_from(Tensor::full({1}, 1.7f));  // not the initial value
  const fs::path dir = fs::temp_directory_path() / ("cs_clip_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  models::save_model(*model, dir.string());

  const auto* clip = model->as<models::ImageTextModel>();
  ASSERT_NE(clip, nullptr);
  EXPECT_EQ(model->capabilities(), (std::vector<std::string>{"image-text", "embeddings"}));
  Rng rng(11);
  const Tensor pixels = Tensor::uniform({3, 3, 8, 8}, rng, -2.0f, 2.0f);
  data::Batch batch = captions();
  batch.set(data::batch_keys::pixels, pixels);
  const Tensor logits = clip->similarity_logits(clip->image_embeds(pixels), clip->text_embeds(batch));
  Tensor loss = clip->contrastive_loss(batch);
  loss.backward();

  nlohmann::json names = nlohmann::json::array();
  for (const auto& [n, t] : model->hf_state_dict()) names.push_back(n);
  nlohmann::json attrs = {{"dir", dir.string()}, {"names", names}};
  const Tensor& ids = batch[data::batch_keys::ids];
  const auto ref = Oracle::instance().run("clip", {pixels, ids}, attrs);
  attrs["float64"] = true;
  const auto exact = Oracle::instance().run("clip", {pixels, ids}, attrs);
  EXPECT_TRUE(all_close(loss.detach(), ref.outputs[0], 1e-5, 1e-6)) << "loss";
  EXPECT_TRUE(all_close(logits.detach(), ref.outputs[1], 1e-4, 1e-5)) << "logits";
  EXPECT_TRUE(as_accurate_as_torch(logits.detach(), ref.outputs[1], exact.outputs[1])) << "logits";

  expect_hf_gradients_match(cfg, *model, ref, exact, 2);

  // The folder reloads (logit_scale as a 0-dimensional tensor, as transformers stores it) to the same logits.
  const auto loaded = models::load_model(dir.string());
  EXPECT_EQ(loaded->model_type(), "clip");
  const auto* back = loaded->as<models::ImageTextModel>();
  const Tensor again = back->similarity_logits(back->image_embeds(pixels), back->text_embeds(batch));
  EXPECT_TRUE(all_close(again, logits.detach(), 0, 0));
  fs::remove_all(dir);
}

TEST(Clip, ConfigRoundTripsAndCountsItsParameters) {
  for (const auto& name : models::ClipConfig::preset_names()) {
    const auto c = models::ClipConfig::preset(name);
    EXPECT_EQ(models::ClipConfig::from_hf(c.hf_config(), "x").to_json(), c.to_json()) << name;
    EXPECT_EQ(c.create(1)->num_parameters(), c.num_parameters()) << name;
  }
  models::Clip m(tiny_clip(), 1);
  EXPECT_EQ(m.num_parameters(), m.config().num_parameters());
  const auto hf = tiny_clip().hf_config();
  EXPECT_EQ(hf["architectures"][0], "CLIPModel");
  EXPECT_EQ(hf["text_config"]["eos_token_id"], 0);
  auto bad = hf;
  bad["text_config"]["hidden_act"] = "quick_gelu";
  try {
    models::ClipConfig::from_hf(bad, "x/config.json");
    FAIL();
  } catch (const UnsupportedError& e) {
    EXPECT_NE(std::string(e.what()).find("x/config.json.text_config: hidden_act 'quick_gelu'"), std::string::npos) << e.what();
  }
  bad = hf;
  bad.erase("vision_config");
  EXPECT_THROW(models::ClipConfig::from_hf(bad, "x"), FormatError);
  auto j = tiny_clip().to_json();
  j["text_heads"] = 5;  // 12 is not a multiple of 5
  try {
    models::ClipConfig::from_json(j, {}, "model");
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("text_d_model (12) must be a multiple of text_heads (5)"), std::string::npos) << e.what();
  }
  j = tiny_clip().to_json();
  j["eos_token_id"] = 23;
  EXPECT_THROW(models::ClipConfig::from_json(j, {}, "model"), ValueError);
  j = tiny_clip().to_json();
  j["labels"] = {"cat", "dog"};  // zero-shot labels belong to classify / evaluate, not the model
  try {
    models::ClipConfig::from_json(j, {}, "model");
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("a CLIP model has no labels of its own"), std::string::npos) << e.what();
  }
}

TEST(Clip, RefusesCaptionsWithoutTheEndOfTextTokenAndWrongImages) {
  models::Clip m(tiny_clip(), 1);
  try {
    m.text_embeds(models::caption_batch({{5, 9, 3}}, 4));  // ends with 3, padded with 4
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("does not end with the end-of-text token (id 0)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(m.text_embeds(models::caption_batch({{1, 2, 3, 4, 5, 6, 7, 0}}, 0)), ShapeError);  // longer than the context 7
  Rng rng(1);
  try {
    m.image_embeds(Tensor::uniform({2, 1, 8, 8}, rng, 0, 1));
    FAIL();
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("(B, 3, 8, 8)"), std::string::npos) << e.what();
  }
}

TEST(Clip, RecallCountsTheOwnPartnersRank) {
  // Three pairs in 2-D: image 0's nearest text is its own; images 1 and 2 each have another text
  // nearer than their own (text 2 and text 1).
  const Tensor img = ops::l2_normalize(Tensor::from_data({3, 2}, std::vector<float>{1, 0, 0.6f, 0.8f, 0, 1}));
  const Tensor txt = ops::l2_normalize(Tensor::from_data({3, 2}, std::vector<float>{1, 0.05f, 0, 1, 0.5f, 0.9f}));
  const models::ImageTextRecall r = models::image_text_recall(img, txt);
  EXPECT_EQ(r.pairs, 3);
  // image -> text at rank 1: image 0 (text 0 best) only; image 1's text 1 ranks below text 2;
  // image 2's text 2 ranks below text 1.
  EXPECT_NEAR(r.image_to_text[0], 1.0 / 3, 1e-12);
  EXPECT_NEAR(r.image_to_text[1], 1.0, 1e-12);  // every partner within 5 of 3
  EXPECT_THROW(models::image_text_recall(img, Tensor::zeros({2, 2})), ShapeError);
}

// ViT (Dosovitskiy et al. 2021): an image cut into patches, each patch a token, a [CLS] token in
// front, learned position embeddings over the patch grid, a pre-norm bidirectional transformer
// encoder (the same nn::TransformerBlock as BERT's, configured: LayerNorm before attention and MLP,
// GELU), a final LayerNorm and a linear classifier on the [CLS] state.
//
//   pixels (B, C, H, W) -> patch_embedding (conv, stride p) -> (B, N = (H/p)(W/p), D)
//   -> prepend [CLS] -> + positions (N + 1, D) -> n_layers x block -> LayerNorm -> hidden (B, N + 1, D)
//   logits = classifier(hidden[:, 0])                                      (B, num_labels)
//
// Presets (DeiT's shapes, on Fashion-MNIST's 28 x 28 gray images in 4 x 4 patches: 49 + 1 tokens):
//
//   preset      layers  d_model  heads  d_ff   parameters (10 classes)
//   vit-tiny    12      192      3      768    5.4M
//   vit-small   12      384      6      1536   21.3M
//
// Parameter names: embeddings.patch.{weight,bias}, embeddings.cls_token, embeddings.position,
// blocks.<i>.*, final_norm.*, classifier.*; Hugging Face names (ViTForImageClassification) in
// vit.cpp's table.
#pragma once

#include <memory>
#include <vector>

#include "cornerstone/models/image_classifier.h"
#include "cornerstone/models/pretrained.h"
#include "cornerstone/nn/transformer.h"

namespace cornerstone::models {

const Family& vit_family();

struct ViTConfig : ModelConfig {
  ImageSpec image;
  int64_t patch_size = 4;
  int64_t n_layers = 12;
  int64_t d_model = 192;
  int64_t n_heads = 3;
  int64_t d_ff = 768;
  float norm_eps = 1e-12f;  // transformers' ViT default
  float dropout = 0.0f;     // embeddings and residual branches (hidden_dropout_prob)
  float init_std = 0.02f;

  int64_t grid() const { return image.image_size / patch_size; }
  int64_t num_patches() const { return grid() * grid(); }
  nn::BlockConfig block() const;

  const Family& family() const override { return vit_family(); }
  std::unique_ptr<ModelConfig> clone() const override { return std::make_unique<ViTConfig>(*this); }
  std::string model_type() const override { return "vit"; }
  nlohmann::json to_json() const override;
  nlohmann::json hf_config() const override;
  void validate() const override;
  int64_t vocabulary_size() const override { return 0; }
  int64_t max_positions() const override { return num_patches() + 1; }
  int64_t num_parameters() const override;
  // Per image (the loop's "token" for image objectives): 6 x weights x tokens + attention.
  double train_flops_per_token(int64_t, double) const override;
  std::unique_ptr<PretrainedModel> create(uint64_t seed, bool random_init = true) const override;

  static ViTConfig from_json(const nlohmann::json& j, const ViTConfig& base, const std::string& where);
  static ViTConfig from_hf(const nlohmann::json& j, const std::string& source);
  static ViTConfig preset(const std::string& name);
  static std::vector<std::string> preset_names();
};

class ViT : public PretrainedModel, public ImageClassifier {
 public:
  ViT(const ViTConfig& config, uint64_t seed, bool random_init = true);
  const ViTConfig& config() const override { return cfg_; }

  // pixels (B, C, H, W) -> (B, N + 1, D) after the final LayerNorm. Throws ShapeError naming the
  // expected image shape.
  Tensor hidden(const Tensor& pixels, Rng* dropout_rng = nullptr) const;
  Tensor image_logits(const Tensor& pixels, Rng* dropout_rng = nullptr) const override;
  const ImageSpec& image_spec() const override { return cfg_.image; }
  void set_label_names(const std::vector<std::string>& names) override { cfg_.image.set_label_names(names); }
  std::vector<std::string> head_hf_names() const override { return {"classifier.weight", "classifier.bias"}; }

  // PretrainedModel
  TextFraming text_framing() const override { return TextFraming::None; }
  int64_t hidden_size() const override { return cfg_.d_model; }
  float init_std() const override { return cfg_.init_std; }
  std::vector<std::pair<std::string, Tensor>> hf_state_dict() const override;
  void load_hf_state_dict(const TensorSource& get, const std::string& source) override;
  Tensor hidden_states(const data::Batch& batch, Rng* dropout_rng = nullptr) const override {
    return hidden(batch.get(data::batch_keys::pixels, "vit"), dropout_rng);
  }
  Tensor sequence_features(const Tensor& h, const Tensor& lengths) const override { return h.select(1, 0).contiguous(); }
  HeadNames sequence_head() const override { return {"classifier", true}; }
  std::vector<LinearSite> linear_sites() const override;
  void set_checkpoint_activations(bool on) override { checkpoint_ = on; }

 private:
  ViTConfig cfg_;
  Tensor patch_weight_, patch_bias_, cls_token_, position_;
  std::vector<std::shared_ptr<nn::TransformerBlock>> blocks_;
  std::shared_ptr<nn::Norm> final_norm_;
  std::shared_ptr<nn::Linear> classifier_;
  bool checkpoint_ = false;
};

}  // namespace cornerstone::models

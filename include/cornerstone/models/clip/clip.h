// CLIP (Radford et al. 2021): an image tower and a text tower trained so that an image and its
// caption land close together in one embedding space; a new category is then recognised
// zero-shot by the caption that fits an image best.
//
//   image: pixels (B, C, H, W) -> patches + [CLS] + positions -> pre_norm -> vision blocks
//          (bidirectional) -> post_norm([CLS]) -> visual_projection          image_embeds (B, P)
//   text:  ids (B, T), the caption then the end-of-text token -> token + position embeddings ->
//          text blocks (causal) -> final_norm -> the end-of-text state -> text_projection
//                                                                              text_embeds (B, P)
//   logits_per_image = exp(logit_scale) * normalise(image_embeds) normalise(text_embeds)^T
//   loss = (cross-entropy(logits_per_image, diagonal) + cross-entropy(logits_per_text, diagonal)) / 2
//
// Both towers are the engine's nn::TransformerBlock (pre-norm LayerNorm, GELU); parameters and
// config.json follow transformers' CLIPModel (its hidden_act "gelu" variant, the erf form), so a
// folder written here opens there. logit_scale starts at log(1 / 0.07) and is clamped at
// log(100) in the forward pass (the clamp CLIP applies after each step; no gradient beyond it).
//
// Parameter names: vision.{patch.weight, cls_token, position, pre_norm.*, blocks.<i>.*, post_norm.*},
// visual_projection.weight, text.{token_embedding, position, blocks.<i>.*, final_norm.*},
// text_projection.weight, logit_scale; Hugging Face names in clip.cpp's table.
#pragma once

#include <memory>
#include <vector>

#include "cornerstone/models/image_classifier.h"
#include "cornerstone/models/pretrained.h"
#include "cornerstone/nn/transformer.h"

namespace cornerstone::models {

const Family& clip_family();

struct ClipConfig : ModelConfig {
  ImageSpec image{3, 32, 1, {}, {0.5f}, {0.5f}};  // channels, image_size, mean, std (num_labels unused)
  int64_t patch_size = 4;
  int64_t vision_layers = 6, vision_d_model = 192, vision_heads = 3, vision_d_ff = 768;
  int64_t vocab_size = 1024, context = 32;
  int64_t text_layers = 4, text_d_model = 192, text_heads = 3, text_d_ff = 768;
  int64_t projection_dim = 128;
  int64_t eos_token_id = 0;  // the token the text tower is pooled at (its tokenizer's end of text)
  float logit_scale_init = 2.6592f;  // log(1 / 0.07)
  float norm_eps = 1e-5f;
  float init_std = 0.02f;

  int64_t grid() const { return image.image_size / patch_size; }
  int64_t num_patches() const { return grid() * grid(); }
  nn::BlockConfig vision_block() const;
  nn::BlockConfig text_block() const;

  const Family& family() const override { return clip_family(); }
  std::unique_ptr<ModelConfig> clone() const override { return std::make_unique<ClipConfig>(*this); }
  std::string model_type() const override { return "clip"; }
  nlohmann::json to_json() const override;
  nlohmann::json hf_config() const override;
  void validate() const override;
  int64_t vocabulary_size() const override { return vocab_size; }
  int64_t max_positions() const override { return context; }
  int64_t num_parameters() const override;
  // Per pair (the loop's "token" for an image-text objective): both towers, a caption of `seq_len`.
  double train_flops_per_token(int64_t seq_len, double) const override;
  std::unique_ptr<PretrainedModel> create(uint64_t seed, bool random_init = true) const override;

  static ClipConfig from_json(const nlohmann::json& j, const ClipConfig& base, const std::string& where);
  static ClipConfig from_hf(const nlohmann::json& j, const std::string& source);
  static ClipConfig preset(const std::string& name);
  static std::vector<std::string> preset_names();
};

class Clip : public PretrainedModel, public ImageTextModel {
 public:
  Clip(const ClipConfig& config, uint64_t seed, bool random_init = true);
  const ClipConfig& config() const override { return cfg_; }

  // ImageTextModel
  Tensor image_embeds(const Tensor& pixels, Rng* dropout_rng = nullptr) const override;
  Tensor text_embeds(const data::Batch& batch, Rng* dropout_rng = nullptr) const override;
  Tensor logit_scale() const override { return logit_scale_; }
  const ImageSpec& image_input() const override { return cfg_.image; }
  int64_t eos_token_id() const override { return cfg_.eos_token_id; }

  // PretrainedModel: the text tower is the sequence model (hidden states of captions).
  TextFraming text_framing() const override { return TextFraming::EndOfText; }
  int64_t hidden_size() const override { return cfg_.text_d_model; }
  float init_std() const override { return cfg_.init_std; }
  std::vector<std::pair<std::string, Tensor>> hf_state_dict() const override;
  void load_hf_state_dict(const TensorSource& get, const std::string& source) override;
  Tensor hidden_states(const data::Batch& batch, Rng* dropout_rng = nullptr) const override;
  Tensor sequence_features(const Tensor& h, const Tensor& lengths) const override;
  HeadNames sequence_head() const override { return {"score", false}; }
  std::vector<LinearSite> linear_sites() const override;
  void set_checkpoint_activations(bool on) override { checkpoint_ = on; }

 private:
  ClipConfig cfg_;
  Tensor patch_weight_, cls_token_, vision_position_, token_embedding_, text_position_, logit_scale_;
  std::vector<std::shared_ptr<nn::TransformerBlock>> vision_blocks_, text_blocks_;
  std::shared_ptr<nn::Norm> pre_norm_, post_norm_, final_norm_;
  std::shared_ptr<nn::Linear> visual_projection_, text_projection_;
  bool checkpoint_ = false;
};

}  // namespace cornerstone::models

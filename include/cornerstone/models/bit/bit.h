// BiT (Kolesnikov et al. 2020, "Big Transfer"): a pre-activation ResNet (ResNetV2) whose
// convolutions are weight-standardised and whose norms are group norms, so that it trains well
// with any batch size and transfers; transformers' BitForImageClassification.
//
//   pixels (B, C, H, W) -> stem: WS-conv 7x7 / 2 (pad 3) -> zero pad 1 -> max pool 3x3 / 2
//   -> stages s = 0..: depths[s] bottleneck layers, the first with stride 2 (except in stage 0) and a
//      1x1 WS-conv shortcut:
//        pre = relu(GN(x));  shortcut = first ? conv1x1(pre, stride) : x
//        h = conv1x1(pre) -> relu(GN) -> conv3x3(stride) -> relu(GN) -> conv1x1;   x = h + shortcut
//      (mid width = hidden_sizes[s] / 4, out width = hidden_sizes[s])
//   -> relu(GN(x)) -> global average pool -> classifier                   logits (B, num_labels)
//
// Weight standardisation: w' = (w - mean) / sqrt(var + 1e-8) per filter (ops::weight_standardize);
// group norms: num_groups groups, eps 1e-5.
//
//   preset         depths     hidden_sizes            parameters (10 classes, 1 channel)
//   resnetv2-18    2 2 2 2    256 512 1024 2048       the 3x3 widths of ResNet-18 (64..512)
//
// Parameter names mirror transformers' (embedder.convolution.weight,
// stages.<s>.layers.<j>.{norm1,conv1,norm2,conv2,norm3,conv3,downsample.conv}.*, norm.*,
// classifier.*); transformers prefixes "bit." ("bit.encoder." before the stages) and nests the
// classifier in a Sequential (classifier.1.*).
#pragma once

#include <memory>
#include <vector>

#include "cornerstone/models/image_classifier.h"
#include "cornerstone/models/pretrained.h"

namespace cornerstone::models {

const Family& bit_family();

struct BitConfig : ModelConfig {
  ImageSpec image;
  int64_t embedding_size = 64;
  std::vector<int64_t> hidden_sizes = {256, 512, 1024, 2048};
  std::vector<int64_t> depths = {2, 2, 2, 2};
  int64_t num_groups = 32;

  // transformers' make_div: the bottleneck width of a stage of `out` channels.
  static int64_t mid_channels(int64_t out);

  const Family& family() const override { return bit_family(); }
  std::unique_ptr<ModelConfig> clone() const override { return std::make_unique<BitConfig>(*this); }
  std::string model_type() const override { return "bit"; }
  nlohmann::json to_json() const override;
  nlohmann::json hf_config() const override;
  void validate() const override;
  int64_t vocabulary_size() const override { return 0; }
  int64_t max_positions() const override { return 1; }  // one feature vector per image
  int64_t num_parameters() const override;
  // Per image: 6 x the multiply-adds of every convolution at its output size, and the classifier.
  double train_flops_per_token(int64_t, double) const override;
  std::unique_ptr<PretrainedModel> create(uint64_t seed, bool random_init = true) const override;

  static BitConfig from_json(const nlohmann::json& j, const BitConfig& base, const std::string& where);
  static BitConfig from_hf(const nlohmann::json& j, const std::string& source);
  static BitConfig preset(const std::string& name);
  static std::vector<std::string> preset_names();
};

class Bit : public PretrainedModel, public ImageClassifier {
 public:
  Bit(const BitConfig& config, uint64_t seed, bool random_init = true);
  const BitConfig& config() const override { return cfg_; }

  // pixels (B, C, H, W) -> pooled features (B, hidden_sizes.back()) after the final norm.
  Tensor features(const Tensor& pixels) const;
  Tensor image_logits(const Tensor& pixels, Rng* dropout_rng = nullptr) const override;
  const ImageSpec& image_spec() const override { return cfg_.image; }
  void set_label_names(const std::vector<std::string>& names) override { cfg_.image.set_label_names(names); }
  std::vector<std::string> head_hf_names() const override { return {"classifier.1.weight", "classifier.1.bias"}; }

  // PretrainedModel: the hidden states are the pooled features as one token, (B, 1, C).
  TextFraming text_framing() const override { return TextFraming::None; }
  int64_t hidden_size() const override { return cfg_.hidden_sizes.back(); }
  float init_std() const override { return 0.01f; }
  std::vector<std::pair<std::string, Tensor>> hf_state_dict() const override;
  void load_hf_state_dict(const TensorSource& get, const std::string& source) override;
  Tensor hidden_states(const data::Batch& batch, Rng* dropout_rng = nullptr) const override;
  Tensor sequence_features(const Tensor& h, const Tensor& lengths) const override { return h.select(1, 0).contiguous(); }
  HeadNames sequence_head() const override { return {"classifier", true}; }
  std::vector<LinearSite> linear_sites() const override { return {}; }
  void set_checkpoint_activations(bool on) override {}

 private:
  struct Layer {
    std::string prefix;  // stages.<s>.layers.<j>.
    int64_t stride;
    bool downsample;
  };
  Tensor conv(const Tensor& x, const std::string& weight, int64_t stride) const;
  Tensor norm_relu(const Tensor& x, const std::string& norm) const;

  BitConfig cfg_;
  std::vector<Layer> layers_;
};

}  // namespace cornerstone::models

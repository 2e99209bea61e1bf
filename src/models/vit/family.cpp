// The ViT family: configs, presets with their training recipe, config.json, registration.
#include <map>

#include "cornerstone/core/checked.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/json_fields.h"
#include "cornerstone/models/config_limits.h"
#include "cornerstone/models/family.h"
#include "cornerstone/models/vit/vit.h"

namespace cornerstone::models {

nn::BlockConfig ViTConfig::block() const {
  nn::BlockConfig b;
  b.d_model = d_model, b.n_heads = b.n_kv_heads = n_heads, b.head_dim = d_model / n_heads, b.d_ff = d_ff;
  b.norm = nn::NormKind::LayerNorm, b.norm_eps = norm_eps, b.pre_norm = true;
  b.mlp = nn::MlpKind::Gelu, b.gelu = ops::GeluKind::Erf, b.bias = true, b.causal = false;
  b.dropout = dropout, b.init_std = b.proj_init_std = init_std;
  return b;
}

void ViTConfig::validate() const {
  image.validate();
  check_limit(patch_size, 1, image.image_size, "model config: patch_size");
  if (image.image_size % patch_size != 0)
    throw ValueError("model config: image_size " + std::to_string(image.image_size) + " must be a multiple of patch_size " +
                     std::to_string(patch_size));
  check_limit(n_layers, 1, kMaxLayers, "model config: n_layers");
  check_limit(d_model, 1, kMaxModelWidth, "model config: d_model");
  check_limit(n_heads, 1, kMaxHeads, "model config: n_heads");
  check_limit(d_ff, 1, kMaxFeedForward, "model config: d_ff");
  if (d_model % n_heads != 0)
    throw ValueError("model config: d_model (" + std::to_string(d_model) + ") must be a multiple of n_heads (" + std::to_string(n_heads) + ")");
  if (!(norm_eps > 0)) throw ValueError("model config: norm_eps must be positive");
  if (!(dropout >= 0 && dropout < 1)) throw ValueError("model config: dropout must be in [0, 1)");
  if (!(init_std > 0)) throw ValueError("model config: init_std must be positive");
}

int64_t ViTConfig::num_parameters() const {
  const int64_t D = d_model, F = d_ff, C = image.channels, p = patch_size, K = image.num_labels;
  const int64_t embeddings = D * C * p * p + D + D + (num_patches() + 1) * D;
  const int64_t layer = 4 * (D * D + D) + (D * F + F) + (F * D + D) + 2 * 2 * D;
  return embeddings + n_layers * layer + 2 * D + D * K + K;
}

double ViTConfig::train_flops_per_token(int64_t, double) const {
  const double D = static_cast<double>(d_model), F = static_cast<double>(d_ff), L = static_cast<double>(n_layers);
  const double T = static_cast<double>(num_patches() + 1);
  const double patch = static_cast<double>(num_patches()) * D * static_cast<double>(image.channels * patch_size * patch_size);
  return 6.0 * (T * L * (4 * D * D + 2 * D * F) + patch + D * static_cast<double>(image.num_labels)) + 12.0 * L * T * T * D;
}

nlohmann::json ViTConfig::to_json() const {
  nlohmann::json j = {{"arch", "vit"},        {"patch_size", patch_size}, {"n_layers", n_layers}, {"d_model", d_model},
                      {"n_heads", n_heads},    {"d_ff", d_ff},             {"norm_eps", norm_eps}, {"dropout", dropout},
                      {"init_std", init_std}};
  image.add_to(j);
  return j;
}

ViTConfig ViTConfig::from_json(const nlohmann::json& j, const ViTConfig& base, const std::string& where) {
  ViTConfig c = base;
  JsonFields f(j, where);
  f.custom("arch", [&](const nlohmann::json& v) {
    if (v != "vit") throw ValueError(where + ".arch: a ViT config has \"arch\": \"vit\", got " + v.dump());
  });
  f.integer("patch_size", c.patch_size).integer("n_layers", c.n_layers).integer("d_model", c.d_model);
  f.integer("n_heads", c.n_heads).integer("d_ff", c.d_ff);
  f.number("norm_eps", c.norm_eps).number("dropout", c.dropout).number("init_std", c.init_std);
  c.image.read_from(f);
  f.read();
  c.validate();
  return c;
}

nlohmann::json ViTConfig::hf_config() const {
  nlohmann::json j = {{"architectures", {"ViTForImageClassification"}},
                      {"model_type", "vit"},
                      {"hidden_size", d_model},
                      {"num_hidden_layers", n_layers},
                      {"num_attention_heads", n_heads},
                      {"intermediate_size", d_ff},
                      {"hidden_act", "gelu"},
                      {"hidden_dropout_prob", dropout},
                      {"attention_probs_dropout_prob", 0.0},
                      {"initializer_range", init_std},
                      {"layer_norm_eps", norm_eps},
                      {"patch_size", patch_size},
                      {"qkv_bias", true},
                      {"encoder_stride", patch_size},
                      {"torch_dtype", "float32"}};
  image.add_to_hf(j);
  return j;
}

ViTConfig ViTConfig::from_hf(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) throw FormatError(source + ": expected a JSON object");
  ViTConfig c;
  c.image = ImageSpec::from_hf(j, source);
  c.patch_size = required_integer(j, "patch_size", source);
  c.d_model = required_integer(j, "hidden_size", source);
  c.n_layers = required_integer(j, "num_hidden_layers", source);
  c.n_heads = required_integer(j, "num_attention_heads", source);
  c.d_ff = required_integer(j, "intermediate_size", source);
  c.norm_eps = optional_number(j, "layer_norm_eps", 1e-12, source);
  c.dropout = optional_number(j, "hidden_dropout_prob", 0.0, source);
  c.init_std = optional_number(j, "initializer_range", 0.02, source);
  const std::string act = j.value("hidden_act", "gelu");
  if (act != "gelu") throw UnsupportedError(source + ": hidden_act '" + act + "' is not supported (\"gelu\", the erf form, is)");
  if (!j.value("qkv_bias", true)) throw UnsupportedError(source + ": qkv_bias false is not supported");
  c.validate_from(source);
  return c;
}

namespace {
const std::map<std::string, nlohmann::json>& vit_presets() {
  static const std::map<std::string, nlohmann::json> p = {
      {"vit-tiny", {{"arch", "vit"}, {"n_layers", 12}, {"d_model", 192}, {"n_heads", 3}, {"d_ff", 768}}},
      {"vit-small", {{"arch", "vit"}, {"n_layers", 12}, {"d_model", 384}, {"n_heads", 6}, {"d_ff", 1536}}},
  };
  return p;
}
}  // namespace

std::vector<std::string> ViTConfig::preset_names() {
  std::vector<std::string> out;
  for (const auto& [k, v] : vit_presets()) out.push_back(k);
  return out;
}

ViTConfig ViTConfig::preset(const std::string& name) {
  const auto it = vit_presets().find(name);
  if (it == vit_presets().end()) throw ValueError("unknown ViT preset '" + name + "'");
  return from_json(it->second, ViTConfig(), "preset " + name);
}

std::unique_ptr<PretrainedModel> ViTConfig::create(uint64_t seed, bool random_init) const {
  return std::make_unique<ViT>(*this, seed, random_init);
}

namespace {

class ViTFamily : public Family {
 public:
  std::string name() const override { return "vit"; }
  std::vector<std::string> archs() const override { return {"vit"}; }
  std::string pretraining_objective() const override { return "image_classification"; }
  std::vector<std::string> presets() const override { return ViTConfig::preset_names(); }
  std::unique_ptr<ModelConfig> preset(const std::string& name) const override { return std::make_unique<ViTConfig>(ViTConfig::preset(name)); }
  // DeiT's recipe scaled to a small set: AdamW (0.9, 0.999), weight decay 0.05, warm-up, cosine.
  nlohmann::json preset_training(const std::string& name) const override {
    return {{"batch_size", 128}, {"lr", 1e-3}, {"min_lr", 1e-5}, {"beta2", 0.999}, {"weight_decay", 0.05}, {"warmup_steps", 200},
            {"steps", 5000}, {"eval_every", 500}, {"eval_batches", 20}};
  }
  std::unique_ptr<ModelConfig> config_from_json(const nlohmann::json& j, const std::string& where) const override {
    return std::make_unique<ViTConfig>(ViTConfig::from_json(j, ViTConfig(), where));
  }
  std::unique_ptr<ModelConfig> config_from_hf(const nlohmann::json& j, const std::string& source) const override {
    return std::make_unique<ViTConfig>(ViTConfig::from_hf(j, source));
  }
};

}  // namespace

const Family& vit_family() {
  static const ViTFamily family;
  return family;
}

CORNERSTONE_MODEL_FAMILY(vit_family())

}  // namespace cornerstone::models

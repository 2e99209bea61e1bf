// The CLIP family: configs, presets with their training recipe, config.json, registration.
#include <cmath>
#include <map>

#include "cornerstone/core/checked.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/json_fields.h"
#include "cornerstone/models/clip/clip.h"
#include "cornerstone/models/config_limits.h"
#include "cornerstone/models/family.h"

namespace cornerstone::models {

namespace {
nn::BlockConfig tower_block(int64_t d_model, int64_t heads, int64_t d_ff, float eps, float init_std, bool causal) {
  nn::BlockConfig b;
  b.d_model = d_model, b.n_heads = b.n_kv_heads = heads, b.head_dim = d_model / heads, b.d_ff = d_ff;
  b.norm = nn::NormKind::LayerNorm, b.norm_eps = eps, b.pre_norm = true;
  b.mlp = nn::MlpKind::Gelu, b.gelu = ops::GeluKind::Erf, b.bias = true, b.causal = causal;
  b.dropout = 0.0f, b.init_std = b.proj_init_std = init_std;
  return b;
}

void check_tower(const char* name, int64_t layers, int64_t d_model, int64_t heads, int64_t d_ff) {
  const std::string p = std::string("model config: ") + name + "_";
  check_limit(layers, 1, kMaxLayers, p + "layers");
  check_limit(d_model, 1, kMaxModelWidth, p + "d_model");
  check_limit(heads, 1, kMaxHeads, p + "heads");
  check_limit(d_ff, 1, kMaxFeedForward, p + "d_ff");
  if (d_model % heads != 0)
    throw ValueError(p + "d_model (" + std::to_string(d_model) + ") must be a multiple of " + name + "_heads (" + std::to_string(heads) + ")");
}
}  // namespace

nn::BlockConfig ClipConfig::vision_block() const {
  return tower_block(vision_d_model, vision_heads, vision_d_ff, norm_eps, init_std, false);
}
nn::BlockConfig ClipConfig::text_block() const { return tower_block(text_d_model, text_heads, text_d_ff, norm_eps, init_std, true); }

void ClipConfig::validate() const {
  image.validate();
  check_limit(patch_size, 1, image.image_size, "model config: patch_size");
  if (image.image_size % patch_size != 0)
    throw ValueError("model config: image_size " + std::to_string(image.image_size) + " must be a multiple of patch_size " +
                     std::to_string(patch_size));
  check_tower("vision", vision_layers, vision_d_model, vision_heads, vision_d_ff);
  check_tower("text", text_layers, text_d_model, text_heads, text_d_ff);
  check_limit(vocab_size, 2, kMaxVocabSize, "model config: vocab_size");
  check_limit(context, 2, kMaxContext, "model config: context");
  check_limit(projection_dim, 1, kMaxModelWidth, "model config: projection_dim");
  check_limit(eos_token_id, 0, vocab_size - 1, "model config: eos_token_id");
  if (!(norm_eps > 0)) throw ValueError("model config: norm_eps must be positive");
  if (!(init_std > 0)) throw ValueError("model config: init_std must be positive");
  if (!std::isfinite(logit_scale_init)) throw ValueError("model config: logit_scale_init must be a finite number");
}

int64_t ClipConfig::num_parameters() const {
  auto layer = [](int64_t D, int64_t F) { return 4 * (D * D + D) + (D * F + F) + (F * D + D) + 2 * 2 * D; };
  const int64_t V = vision_d_model, D = text_d_model, P = projection_dim;
  const int64_t vision = V * image.channels * patch_size * patch_size + V + (num_patches() + 1) * V + 2 * V +
                         vision_layers * layer(V, vision_d_ff) + 2 * V + P * V;
  const int64_t text = vocab_size * D + context * D + text_layers * layer(D, text_d_ff) + 2 * D + P * D;
  return vision + text + 1;
}

double ClipConfig::train_flops_per_token(int64_t seq_len, double) const {
  auto tower = [](double T, double L, double D, double F) { return 6.0 * T * L * (4 * D * D + 2 * D * F) + 12.0 * L * T * T * D; };
  const double Tv = static_cast<double>(num_patches() + 1), Tt = static_cast<double>(seq_len > 0 ? seq_len : context);
  const double patch = 6.0 * static_cast<double>(num_patches() * vision_d_model * image.channels * patch_size * patch_size);
  return tower(Tv, static_cast<double>(vision_layers), static_cast<double>(vision_d_model), static_cast<double>(vision_d_ff)) + patch +
         tower(Tt, static_cast<double>(text_layers), static_cast<double>(text_d_model), static_cast<double>(text_d_ff)) +
         6.0 * static_cast<double>(projection_dim * (vision_d_model + text_d_model));
}

nlohmann::json ClipConfig::to_json() const {
  nlohmann::json j = {{"arch", "clip"},
                      {"channels", image.channels},
                      {"image_size", image.image_size},
                      {"image_mean", image.mean},
                      {"image_std", image.std},
                      {"patch_size", patch_size},
                      {"vision_layers", vision_layers},
                      {"vision_d_model", vision_d_model},
                      {"vision_heads", vision_heads},
                      {"vision_d_ff", vision_d_ff},
                      {"vocab_size", vocab_size},
                      {"context", context},
                      {"text_layers", text_layers},
                      {"text_d_model", text_d_model},
                      {"text_heads", text_heads},
                      {"text_d_ff", text_d_ff},
                      {"projection_dim", projection_dim},
                      {"eos_token_id", eos_token_id},
                      {"logit_scale_init", logit_scale_init},
                      {"norm_eps", norm_eps},
                      {"init_std", init_std}};
  return j;
}

ClipConfig ClipConfig::from_json(const nlohmann::json& j, const ClipConfig& base, const std::string& where) {
  ClipConfig c = base;
  JsonFields f(j, where);
  f.custom("arch", [&](const nlohmann::json& v) {
    if (v != "clip") throw ValueError(where + ".arch: a CLIP config has \"arch\": \"clip\", got " + v.dump());
  });
  f.integer("patch_size", c.patch_size);
  f.integer("vision_layers", c.vision_layers).integer("vision_d_model", c.vision_d_model);
  f.integer("vision_heads", c.vision_heads).integer("vision_d_ff", c.vision_d_ff);
  f.integer("vocab_size", c.vocab_size).integer("context", c.context);
  f.integer("text_layers", c.text_layers).integer("text_d_model", c.text_d_model);
  f.integer("text_heads", c.text_heads).integer("text_d_ff", c.text_d_ff);
  f.integer("projection_dim", c.projection_dim).integer("eos_token_id", c.eos_token_id);
  f.number("logit_scale_init", c.logit_scale_init).number("norm_eps", c.norm_eps).number("init_std", c.init_std);
  c.image.read_from(f);
  f.read();
  // A CLIP model has no classes of its own: zero-shot labels are given to classify / evaluate.
  if (c.image.num_labels != base.image.num_labels || !c.image.labels.empty())
    throw ValueError(where + ": a CLIP model has no labels of its own (\"labels\" / \"num_labels\"); give zero-shot labels to "
                     "`classify --labels` or put them in the evaluation data");
  c.validate();
  return c;
}

namespace {
// The keys both towers' config.json objects share (transformers' CLIPTextConfig / CLIPVisionConfig).
struct Tower {  // where tower_from_hf writes
  int64_t *d_model, *d_ff, *layers, *heads;
};
nlohmann::json tower_to_hf(int64_t d_model, int64_t d_ff, int64_t layers, int64_t heads, const ClipConfig& c) {
  return {{"hidden_size", d_model},     {"intermediate_size", d_ff}, {"num_hidden_layers", layers},
          {"num_attention_heads", heads}, {"hidden_act", "gelu"},      {"layer_norm_eps", c.norm_eps},
          {"projection_dim", c.projection_dim}, {"initializer_range", c.init_std}};
}
void tower_from_hf(const nlohmann::json& j, const std::string& where, const Tower& t) {
  const std::string act = j.value("hidden_act", "quick_gelu");
  if (act != "gelu")
    throw UnsupportedError(where + ": hidden_act '" + act + "' is not supported (\"gelu\", the erf form, is; OpenAI's checkpoints use quick_gelu)");
  *t.d_model = required_integer(j, "hidden_size", where);
  *t.d_ff = required_integer(j, "intermediate_size", where);
  *t.layers = required_integer(j, "num_hidden_layers", where);
  *t.heads = required_integer(j, "num_attention_heads", where);
}
}  // namespace

nlohmann::json ClipConfig::hf_config() const {
  nlohmann::json text = tower_to_hf(text_d_model, text_d_ff, text_layers, text_heads, *this);
  text.update({{"model_type", "clip_text_model"},
               {"vocab_size", vocab_size},
               {"max_position_embeddings", context},
               {"bos_token_id", eos_token_id},
               {"eos_token_id", eos_token_id},
               {"pad_token_id", eos_token_id}});
  nlohmann::json vision = tower_to_hf(vision_d_model, vision_d_ff, vision_layers, vision_heads, *this);
  vision.update({{"model_type", "clip_vision_model"},
                 {"num_channels", image.channels},
                 {"image_size", image.image_size},
                 {"patch_size", patch_size}});
  return {{"architectures", {"CLIPModel"}},
          {"model_type", "clip"},
          {"projection_dim", projection_dim},
          {"logit_scale_init_value", logit_scale_init},
          {"text_config", text},
          {"vision_config", vision},
          {"image_mean", image.mean},
          {"image_std", image.std},
          {"torch_dtype", "float32"}};
}

ClipConfig ClipConfig::from_hf(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) throw FormatError(source + ": expected a JSON object");
  for (const char* key : {"text_config", "vision_config"})
    if (!j.contains(key) || !j[key].is_object()) throw FormatError(source + ": missing \"" + key + "\" (an object)");
  const nlohmann::json &t = j["text_config"], &v = j["vision_config"];
  const std::string ts = source + ".text_config", vs = source + ".vision_config";
  ClipConfig c;
  tower_from_hf(t, ts, {&c.text_d_model, &c.text_d_ff, &c.text_layers, &c.text_heads});
  tower_from_hf(v, vs, {&c.vision_d_model, &c.vision_d_ff, &c.vision_layers, &c.vision_heads});
  c.projection_dim = required_integer(j, "projection_dim", source);
  c.logit_scale_init = optional_number(j, "logit_scale_init_value", 2.6592, source);
  c.vocab_size = required_integer(t, "vocab_size", ts);
  c.context = required_integer(t, "max_position_embeddings", ts);
  c.eos_token_id = required_integer(t, "eos_token_id", ts);
  c.norm_eps = optional_number(t, "layer_norm_eps", 1e-5, ts);
  c.init_std = optional_number(t, "initializer_range", 0.02, ts);
  c.patch_size = required_integer(v, "patch_size", vs);
  c.image.channels = v.contains("num_channels") ? required_integer(v, "num_channels", vs) : 3;
  c.image.image_size = required_integer(v, "image_size", vs);
  if (optional_number(v, "layer_norm_eps", 1e-5, vs) != c.norm_eps)
    throw UnsupportedError(source + ": the towers' layer_norm_eps differ (one value for both is supported)");
  c.image.read_hf_normalisation(j, source);
  c.validate_from(source);
  return c;
}

namespace {
// Shapes for small images (32 x 32 in 4 x 4 patches: 64 + 1 tokens) and short captions.
const std::map<std::string, nlohmann::json>& clip_presets() {
  static const std::map<std::string, nlohmann::json> p = {
      {"clip-tiny", {{"arch", "clip"}, {"vision_layers", 6}, {"vision_d_model", 192}, {"vision_heads", 3}, {"vision_d_ff", 768},
                     {"text_layers", 4}, {"text_d_model", 192}, {"text_heads", 3}, {"text_d_ff", 768}, {"projection_dim", 128}}},
  };
  return p;
}
}  // namespace

std::vector<std::string> ClipConfig::preset_names() {
  std::vector<std::string> out;
  for (const auto& [k, v] : clip_presets()) out.push_back(k);
  return out;
}

ClipConfig ClipConfig::preset(const std::string& name) {
  const auto it = clip_presets().find(name);
  if (it == clip_presets().end()) throw ValueError("unknown CLIP preset '" + name + "'");
  return from_json(it->second, ClipConfig(), "preset " + name);
}

std::unique_ptr<PretrainedModel> ClipConfig::create(uint64_t seed, bool random_init) const {
  return std::make_unique<Clip>(*this, seed, random_init);
}

namespace {

class ClipFamily : public Family {
 public:
  std::string name() const override { return "clip"; }
  std::vector<std::string> archs() const override { return {"clip"}; }
  std::string pretraining_objective() const override { return "image_text_contrastive"; }
  std::vector<std::string> presets() const override { return ClipConfig::preset_names(); }
  std::unique_ptr<ModelConfig> preset(const std::string& name) const override { return std::make_unique<ClipConfig>(ClipConfig::preset(name)); }
  // AdamW with CLIP's beta2 and a strong weight decay: a small caption set is memorised fast (the
  // recipe of configs/clip-emoji.json, chosen on the emoji validation split, docs/vision.md).
  nlohmann::json preset_training(const std::string& name) const override {
    return {{"batch_size", 128}, {"lr", 3e-4}, {"min_lr", 3e-6}, {"beta2", 0.98}, {"weight_decay", 0.5}, {"warmup_steps", 50},
            {"steps", 1200}, {"eval_every", 100}, {"eval_batches", 2}};
  }
  std::unique_ptr<ModelConfig> config_from_json(const nlohmann::json& j, const std::string& where) const override {
    return std::make_unique<ClipConfig>(ClipConfig::from_json(j, ClipConfig(), where));
  }
  std::unique_ptr<ModelConfig> config_from_hf(const nlohmann::json& j, const std::string& source) const override {
    return std::make_unique<ClipConfig>(ClipConfig::from_hf(j, source));
  }
};

}  // namespace

const Family& clip_family() {
  static const ClipFamily family;
  return family;
}

CORNERSTONE_MODEL_FAMILY(clip_family())

}  // namespace cornerstone::models

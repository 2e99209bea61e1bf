// The BiT (ResNetV2) family: configs, presets, config.json, registration.
#include <map>

#include "cornerstone/core/checked.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/json_fields.h"
#include "cornerstone/models/bit/bit.h"
#include "cornerstone/models/config_limits.h"
#include "cornerstone/models/family.h"

namespace cornerstone::models {

int64_t BitConfig::mid_channels(int64_t out) {
  // transformers' make_div(out * 0.25, 8): rounded to a multiple of 8, at least 8, within 10%.
  const double v = static_cast<double>(out) * 0.25;
  int64_t m = std::max<int64_t>(8, static_cast<int64_t>(v + 4) / 8 * 8);
  if (static_cast<double>(m) < 0.9 * v) m += 8;
  return m;
}

void BitConfig::validate() const {
  image.validate();
  check_limit(embedding_size, 1, kMaxModelWidth, "model config: embedding_size");
  check_limit(num_groups, 1, kMaxModelWidth, "model config: num_groups");
  if (depths.empty() || depths.size() != hidden_sizes.size())
    throw ValueError("model config: depths and hidden_sizes must list the same number (>= 1) of stages");
  if (depths.size() > 4) throw ValueError("model config: at most 4 stages (output stride 32)");
  for (size_t s = 0; s < depths.size(); ++s) {
    check_limit(depths[s], 1, kMaxLayers, "model config: depths[" + std::to_string(s) + "]");
    check_limit(hidden_sizes[s], 8, kMaxModelWidth, "model config: hidden_sizes[" + std::to_string(s) + "]");
    if (hidden_sizes[s] % 8 != 0) throw ValueError("model config: hidden_sizes[" + std::to_string(s) + "] must be a multiple of 8");
    for (int64_t ch : {hidden_sizes[s], mid_channels(hidden_sizes[s])})
      if (ch % num_groups != 0)
        throw ValueError("model config: " + std::to_string(ch) + " channels of stage " + std::to_string(s) + " do not split into num_groups " +
                         std::to_string(num_groups));
  }
  if (embedding_size % num_groups != 0)
    throw ValueError("model config: embedding_size " + std::to_string(embedding_size) + " does not split into num_groups " +
                     std::to_string(num_groups));
  // The stem divides the image by 4 and each later stage by 2; the last map must keep a pixel.
  if (image.image_size < 4)
    throw ValueError("model config: image_size " + std::to_string(image.image_size) + " is too small for the stem (at least 4)");
}

int64_t BitConfig::num_parameters() const {
  int64_t n = embedding_size * image.channels * 49, in = embedding_size;
  for (size_t s = 0; s < depths.size(); ++s) {
    const int64_t out = hidden_sizes[s], mid = mid_channels(out);
    for (int64_t j = 0; j < depths[s]; ++j) {
      if (j == 0) n += out * in;
      n += 2 * in + mid * in + 2 * mid + mid * mid * 9 + 2 * mid + out * mid;
      in = out;
    }
  }
  return n + 2 * in + in * image.num_labels + image.num_labels;
}

double BitConfig::train_flops_per_token(int64_t, double) const {
  // Output sizes as the convolutions compute them (floor division with transformers' paddings).
  auto out = [](int64_t n, int64_t k, int64_t s, int64_t p) { return (n + 2 * p - k) / s + 1; };
  int64_t size = out(image.image_size, 7, 2, 3);
  double macs = static_cast<double>(size * size) * static_cast<double>(embedding_size * image.channels * 49);
  size = out(size + 2, 3, 2, 0);
  int64_t in = embedding_size;
  for (size_t s = 0; s < depths.size(); ++s) {
    const int64_t o = hidden_sizes[s], mid = mid_channels(o);
    for (int64_t j = 0; j < depths[s]; ++j) {
      const int64_t stride = j == 0 && s > 0 ? 2 : 1, after = out(size, 3, stride, 1);
      macs += static_cast<double>(size * size) * static_cast<double>(mid * in);
      macs += static_cast<double>(after * after) * static_cast<double>(mid * mid * 9 + o * mid + (j == 0 ? o * in : 0));
      size = after, in = o;
    }
  }
  return 6.0 * (macs + static_cast<double>(in * image.num_labels));
}

nlohmann::json BitConfig::to_json() const {
  nlohmann::json j = {{"arch", "bit"}, {"embedding_size", embedding_size}, {"hidden_sizes", hidden_sizes}, {"depths", depths},
                      {"num_groups", num_groups}};
  image.add_to(j);
  return j;
}

namespace {
std::vector<int64_t> int_list(const nlohmann::json& v, JsonFields& f, const char* key) {
  if (!v.is_array() || v.empty()) f.fail(key, "expected a list of integers", v);
  std::vector<int64_t> out;
  for (const auto& x : v) {
    if (!x.is_number_integer()) f.fail(key, "expected a list of integers", v);
    out.push_back(x.get<int64_t>());
  }
  return out;
}
}  // namespace

BitConfig BitConfig::from_json(const nlohmann::json& j, const BitConfig& base, const std::string& where) {
  BitConfig c = base;
  JsonFields f(j, where);
  f.custom("arch", [&](const nlohmann::json& v) {
    if (v != "bit") throw ValueError(where + ".arch: a BiT config has \"arch\": \"bit\", got " + v.dump());
  });
  f.integer("embedding_size", c.embedding_size).integer("num_groups", c.num_groups);
  f.custom("hidden_sizes", [&](const nlohmann::json& v) { c.hidden_sizes = int_list(v, f, "hidden_sizes"); });
  f.custom("depths", [&](const nlohmann::json& v) { c.depths = int_list(v, f, "depths"); });
  c.image.read_from(f);
  f.read();
  c.validate();
  return c;
}

nlohmann::json BitConfig::hf_config() const {
  nlohmann::json j = {{"architectures", {"BitForImageClassification"}},
                      {"model_type", "bit"},
                      {"embedding_size", embedding_size},
                      {"hidden_sizes", hidden_sizes},
                      {"depths", depths},
                      {"layer_type", "preactivation"},
                      {"hidden_act", "relu"},
                      {"global_padding", nullptr},
                      {"num_groups", num_groups},
                      {"drop_path_rate", 0.0},
                      {"embedding_dynamic_padding", false},
                      {"output_stride", 32},
                      {"width_factor", 1},
                      {"torch_dtype", "float32"}};
  image.add_to_hf(j);
  return j;
}

BitConfig BitConfig::from_hf(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) throw FormatError(source + ": expected a JSON object");
  BitConfig c;
  nlohmann::json with_size = j;
  if (!with_size.contains("image_size")) with_size["image_size"] = 224;  // BitConfig has no image_size: ImageNet's
  c.image = ImageSpec::from_hf(with_size, source);
  c.embedding_size = required_integer(j, "embedding_size", source);
  c.num_groups = j.contains("num_groups") ? required_integer(j, "num_groups", source) : 32;
  auto list = [&](const char* key) {
    if (!j.contains(key) || !j[key].is_array()) throw FormatError(source + ": " + key + " must be a list of integers");
    std::vector<int64_t> out;
    for (const auto& x : j[key]) {
      if (!x.is_number_integer()) throw FormatError(source + ": " + key + " must be a list of integers");
      out.push_back(x.get<int64_t>());
    }
    return out;
  };
  c.hidden_sizes = list("hidden_sizes");
  c.depths = list("depths");
  auto require = [&](const char* key, const nlohmann::json& want) {
    if (j.contains(key) && j[key] != want)
      throw UnsupportedError(source + ": " + key + " " + j[key].dump() + " is not supported (" + want.dump() + " is)");
  };
  require("layer_type", "preactivation");
  require("hidden_act", "relu");
  require("global_padding", nullptr);
  require("embedding_dynamic_padding", false);
  require("output_stride", 32);
  require("width_factor", 1);
  c.validate_from(source);
  return c;
}

namespace {
const std::map<std::string, nlohmann::json>& bit_presets() {
  static const std::map<std::string, nlohmann::json> p = {
      {"resnetv2-18", {{"arch", "bit"}, {"embedding_size", 64}, {"hidden_sizes", {256, 512, 1024, 2048}}, {"depths", {2, 2, 2, 2}},
                       {"num_groups", 32}, {"image_size", 32}}},
  };
  return p;
}
}  // namespace

std::vector<std::string> BitConfig::preset_names() {
  std::vector<std::string> out;
  for (const auto& [k, v] : bit_presets()) out.push_back(k);
  return out;
}

BitConfig BitConfig::preset(const std::string& name) {
  const auto it = bit_presets().find(name);
  if (it == bit_presets().end()) throw ValueError("unknown BiT preset '" + name + "'");
  return from_json(it->second, BitConfig(), "preset " + name);
}

std::unique_ptr<PretrainedModel> BitConfig::create(uint64_t seed, bool random_init) const {
  return std::make_unique<Bit>(*this, seed, random_init);
}

namespace {

class BitFamily : public Family {
 public:
  std::string name() const override { return "bit"; }
  std::vector<std::string> archs() const override { return {"bit"}; }
  std::string pretraining_objective() const override { return "image_classification"; }
  std::vector<std::string> presets() const override { return BitConfig::preset_names(); }
  std::unique_ptr<ModelConfig> preset(const std::string& name) const override { return std::make_unique<BitConfig>(BitConfig::preset(name)); }
  // AdamW at a rate group-normed ResNets train well at, little weight decay on a small set.
  nlohmann::json preset_training(const std::string& name) const override {
    return {{"batch_size", 64}, {"lr", 2e-3}, {"min_lr", 2e-5}, {"beta2", 0.999}, {"weight_decay", 0.01}, {"warmup_steps", 200},
            {"steps", 5000}, {"eval_every", 500}, {"eval_batches", 20}};
  }
  std::unique_ptr<ModelConfig> config_from_json(const nlohmann::json& j, const std::string& where) const override {
    return std::make_unique<BitConfig>(BitConfig::from_json(j, BitConfig(), where));
  }
  std::unique_ptr<ModelConfig> config_from_hf(const nlohmann::json& j, const std::string& source) const override {
    return std::make_unique<BitConfig>(BitConfig::from_hf(j, source));
  }
};

}  // namespace

const Family& bit_family() {
  static const BitFamily family;
  return family;
}

CORNERSTONE_MODEL_FAMILY(bit_family())

}  // namespace cornerstone::models

#include "cornerstone/models/bert/encoder_config.h"

#include <map>

#include "cornerstone/core/checked.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/json_fields.h"
#include "cornerstone/models/config_limits.h"

namespace cornerstone::models {

nn::BlockConfig EncoderConfig::block() const {
  nn::BlockConfig b;
  b.d_model = d_model, b.n_heads = b.n_kv_heads = n_heads, b.head_dim = head_dim(), b.d_ff = d_ff;
  b.norm = nn::NormKind::LayerNorm, b.norm_eps = norm_eps;
  b.mlp = nn::MlpKind::Gelu, b.gelu = ops::GeluKind::Erf, b.bias = true;
  b.causal = false, b.pre_norm = pre_norm;
  b.dropout = dropout, b.init_std = b.proj_init_std = init_std;  // BERT scales no projection
  return b;
}

int64_t EncoderConfig::num_parameters() const {
  const int64_t C = d_model, F = d_ff;
  const int64_t embeddings = (vocab_size + context + type_vocab_size) * C + 2 * C;
  const int64_t layer = 4 * (C * C + C) + (C * F + F) + (F * C + C) + 2 * 2 * C;  // q k v o, MLP, 2 LayerNorms
  const int64_t final_norm = pre_norm ? 2 * C : 0;
  const int64_t pooler = C * C + C;
  const int64_t mlm_head = C * C + C + 2 * C + vocab_size;  // transform, its LayerNorm, output bias (decoder tied)
  return embeddings + n_layers * layer + final_norm + pooler + mlm_head;
}

double EncoderConfig::train_flops_per_token(int64_t seq_len, double predicted) const {
  const double C = static_cast<double>(d_model), F = static_cast<double>(d_ff), L = static_cast<double>(n_layers);
  const double blocks = L * (4 * C * C + 2 * C * F);
  const double attention = 12.0 * L * static_cast<double>(seq_len) * C;
  const double head = C * C + static_cast<double>(vocab_size) * C;
  return 6.0 * blocks + attention + predicted * 6.0 * head;
}

void EncoderConfig::validate() const {
  auto need = [](bool ok, const std::string& msg) {
    if (!ok) throw ValueError("model config: " + msg);
  };
  need(vocab_size > 0, "vocab_size must be positive");
  need(context > 0, "context must be positive");
  need(type_vocab_size > 0, "type_vocab_size must be positive");
  need(n_layers > 0, "n_layers must be positive");
  // Limits before the products below (and every allocation the model makes) are computed.
  check_limit(vocab_size, 1, kMaxVocabSize, "model config: vocab_size");
  check_limit(context, 1, kMaxContext, "model config: context");
  check_limit(type_vocab_size, 1, kMaxTypeVocabSize, "model config: type_vocab_size");
  check_limit(n_layers, 1, kMaxLayers, "model config: n_layers");
  check_limit(d_model, 1, kMaxModelWidth, "model config: d_model");
  check_limit(n_heads, 1, kMaxHeads, "model config: n_heads");
  check_limit(d_ff, 1, kMaxFeedForward, "model config: d_ff");
  need(d_model > 0 && n_heads > 0 && d_model % n_heads == 0,
       "d_model (" + std::to_string(d_model) + ") must be a positive multiple of n_heads (" + std::to_string(n_heads) + ")");
  need(d_ff > 0, "d_ff must be positive");
  need(norm_eps > 0, "norm_eps must be positive");
  need(dropout >= 0 && dropout < 1, "dropout must be in [0, 1)");
  need(init_std > 0, "init_std must be positive");
}

nlohmann::json EncoderConfig::to_json() const {
  return {{"arch", "bert"},        {"vocab_size", vocab_size}, {"context", context},   {"type_vocab_size", type_vocab_size},
          {"n_layers", n_layers},  {"d_model", d_model},       {"n_heads", n_heads},   {"d_ff", d_ff},
          {"norm_eps", norm_eps},  {"pre_norm", pre_norm},     {"dropout", dropout},   {"init_std", init_std}};
}

EncoderConfig EncoderConfig::from_json(const nlohmann::json& j, const EncoderConfig& base, const std::string& where) {
  EncoderConfig c = base;
  JsonFields f(j, where);
  f.custom("arch", [&](const nlohmann::json& v) {
    if (v != "bert") throw ValueError(where + ".arch: an encoder config has \"arch\": \"bert\", got " + v.dump());
  });
  f.integer("vocab_size", c.vocab_size).integer("context", c.context).integer("type_vocab_size", c.type_vocab_size);
  f.integer("n_layers", c.n_layers).integer("d_model", c.d_model).integer("n_heads", c.n_heads).integer("d_ff", c.d_ff);
  f.number("norm_eps", c.norm_eps).number("dropout", c.dropout).number("init_std", c.init_std).boolean("pre_norm", c.pre_norm);
  f.read();
  c.validate();
  return c;
}

EncoderConfig EncoderConfig::from_json(const nlohmann::json& j) { return from_json(j, EncoderConfig(), "model"); }

namespace {
nlohmann::json bert_shape(int64_t layers, int64_t d_model, int64_t heads) {
  return {{"arch", "bert"}, {"n_layers", layers}, {"d_model", d_model}, {"n_heads", heads}, {"d_ff", 4 * d_model}};
}

const std::map<std::string, nlohmann::json>& presets() {
  static const std::map<std::string, nlohmann::json> p = {
      {"bert-tiny", bert_shape(2, 128, 2)},     {"bert-mini", bert_shape(4, 256, 4)},
      {"bert-small", bert_shape(4, 512, 8)},    {"bert-medium", bert_shape(8, 512, 8)},
      {"bert-base", bert_shape(12, 768, 12)},
  };
  return p;
}
}  // namespace

std::vector<std::string> EncoderConfig::preset_names() {
  std::vector<std::string> out;
  for (const auto& [k, v] : presets()) out.push_back(k);
  return out;
}

bool EncoderConfig::is_preset(const std::string& name) { return presets().count(name) > 0; }

EncoderConfig EncoderConfig::preset(const std::string& name) {
  auto it = presets().find(name);
  if (it == presets().end()) {
    std::string known;
    for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
    throw ValueError("unknown encoder preset '" + name + "' (presets: " + known + ")");
  }
  return from_json(it->second, EncoderConfig(), "preset " + name);
}

}  // namespace cornerstone::models

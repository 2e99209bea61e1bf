#include "cornerstone/models/gpt/decoder_config.h"

#include <map>

#include "cornerstone/core/checked.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/json_fields.h"
#include "cornerstone/models/config_limits.h"

namespace cornerstone::models {

std::string arch_name(DecoderArch a) { return a == DecoderArch::GPT2 ? "gpt2" : "llama"; }

std::string DecoderConfig::model_type() const { return arch_name(arch); }

nn::BlockConfig DecoderConfig::block() const {
  nn::BlockConfig b;
  b.d_model = d_model, b.n_heads = n_heads, b.n_kv_heads = n_kv_heads, b.head_dim = head_dim(), b.d_ff = d_ff;
  b.norm_eps = norm_eps, b.dropout = dropout, b.init_std = init_std;
  // GPT-2: residual projections scaled by 1/sqrt(2 n_layers) so the residual stream's variance
  // does not grow with depth.
  b.proj_init_std = init_std / std::sqrt(2.0f * static_cast<float>(n_layers));
  if (arch == DecoderArch::GPT2) {
    b.norm = nn::NormKind::LayerNorm, b.mlp = nn::MlpKind::Gelu, b.gelu = ops::GeluKind::Tanh, b.bias = true;
  } else {
    b.norm = nn::NormKind::RMSNorm, b.mlp = nn::MlpKind::SwiGLU, b.bias = false;
  }
  return b;
}

std::optional<DecoderStack> DecoderConfig::decoder_stack() const {
  DecoderStack s;  // GPT's parameter names are the stack's defaults: wte, blocks.<i>, norm_f, lm_head
  s.vocab_size = vocab_size, s.context = context, s.n_layers = n_layers, s.block = block();
  if (learned_positions())
    s.position_embedding = "wpe.weight";
  else
    s.rope_theta = rope_theta;
  if (tie_embeddings) s.lm_head = s.token_embedding;
  return s;
}

int64_t DecoderConfig::num_parameters() const {
  const int64_t D = head_dim();
  const bool bias = arch == DecoderArch::GPT2;
  int64_t block = 0;
  block += d_model * (n_heads + 2 * n_kv_heads) * D + (bias ? (n_heads + 2 * n_kv_heads) * D : 0);  // qkv
  block += n_heads * D * d_model + (bias ? d_model : 0);                                           // proj
  if (arch == DecoderArch::GPT2)
    block += d_model * d_ff + d_ff + d_ff * d_model + d_model + 4 * d_model;  // fc, proj, 2 LayerNorms
  else
    block += d_model * 2 * d_ff + d_ff * d_model + 2 * d_model;  // gate_up, down, 2 RMSNorms
  int64_t total = n_layers * block + vocab_size * d_model;        // blocks + token embedding
  if (learned_positions()) total += context * d_model;
  total += arch == DecoderArch::GPT2 ? 2 * d_model : d_model;    // final norm
  if (!tie_embeddings) total += vocab_size * d_model;
  return total;
}

double DecoderConfig::train_flops_per_token(int64_t seq_len, double /*predicted*/) const {
  // Parameters that take part in matmuls: everything but the embedding tables' lookups, plus the
  // LM head (the tied embedding used as a matmul).
  double matmul_params = static_cast<double>(num_parameters()) - static_cast<double>(vocab_size * d_model);
  if (learned_positions()) matmul_params -= static_cast<double>(context * d_model);
  if (!tie_embeddings) matmul_params -= static_cast<double>(vocab_size * d_model);
  matmul_params += static_cast<double>(vocab_size * d_model);
  const double attention = 6.0 * static_cast<double>(n_layers) * static_cast<double>(seq_len) *
                           static_cast<double>(n_heads * head_dim());  // 12 L T C, halved by causality
  return 6.0 * matmul_params + attention;
}

void DecoderConfig::validate() const {
  auto need = [](bool ok, const std::string& msg) {
    if (!ok) throw ValueError("model config: " + msg);
  };
  need(vocab_size > 0, "vocab_size must be positive");
  need(context > 0, "context must be positive");
  need(n_layers > 0, "n_layers must be positive");
  // Limits before the products below (and every allocation the model makes) are computed.
  check_limit(vocab_size, 1, kMaxVocabSize, "model config: vocab_size");
  check_limit(context, 1, kMaxContext, "model config: context");
  check_limit(n_layers, 1, kMaxLayers, "model config: n_layers");
  check_limit(d_model, 1, kMaxModelWidth, "model config: d_model");
  check_limit(n_heads, 1, kMaxHeads, "model config: n_heads");
  check_limit(n_kv_heads, 1, kMaxHeads, "model config: n_kv_heads");
  check_limit(d_ff, 1, kMaxFeedForward, "model config: d_ff");
  need(d_model > 0 && n_heads > 0 && d_model % n_heads == 0,
       "d_model (" + std::to_string(d_model) + ") must be a positive multiple of n_heads (" + std::to_string(n_heads) + ")");
  need(n_kv_heads > 0 && n_heads % n_kv_heads == 0,
       "n_heads (" + std::to_string(n_heads) + ") must be a multiple of n_kv_heads (" + std::to_string(n_kv_heads) + ")");
  need(arch == DecoderArch::Llama || n_kv_heads == n_heads, "the gpt2 architecture has no grouped-query attention (n_kv_heads must equal n_heads)");
  need(arch == DecoderArch::GPT2 || head_dim() % 2 == 0, "rotary embeddings need an even head dimension");
  need(d_ff > 0, "d_ff must be positive");
  need(norm_eps > 0, "norm_eps must be positive");
  need(dropout >= 0 && dropout < 1, "dropout must be in [0, 1)");
  need(init_std > 0, "init_std must be positive");
}

nlohmann::json DecoderConfig::to_json() const {
  return {{"arch", arch_name(arch)}, {"vocab_size", vocab_size},       {"context", context},
          {"n_layers", n_layers},    {"d_model", d_model},             {"n_heads", n_heads},
          {"n_kv_heads", n_kv_heads}, {"d_ff", d_ff},                  {"norm_eps", norm_eps},
          {"rope_theta", rope_theta}, {"tie_embeddings", tie_embeddings}, {"dropout", dropout},
          {"init_std", init_std}};
}

DecoderConfig DecoderConfig::from_json(const nlohmann::json& j, const DecoderConfig& base, const std::string& where) {
  DecoderConfig c = base;
  JsonFields f(j, where);
  f.custom("arch", [&](const nlohmann::json& v) {
    const std::string a = v.is_string() ? v.get<std::string>() : "";
    if (a == "gpt2") c.arch = DecoderArch::GPT2;
    else if (a == "llama") c.arch = DecoderArch::Llama;
    else throw ValueError(where + ".arch: expected \"gpt2\" or \"llama\", got " + v.dump());
  });
  f.integer("vocab_size", c.vocab_size).integer("context", c.context).integer("n_layers", c.n_layers);
  f.integer("d_model", c.d_model).integer("n_heads", c.n_heads).integer("n_kv_heads", c.n_kv_heads).integer("d_ff", c.d_ff);
  f.number("norm_eps", c.norm_eps).number("rope_theta", c.rope_theta).number("dropout", c.dropout).number("init_std", c.init_std);
  f.boolean("tie_embeddings", c.tie_embeddings);
  f.read();
  // A GPT-2 config that only sets n_heads gets MHA; a Llama one keeps what it says.
  if (!j.contains("n_kv_heads") && c.arch == DecoderArch::GPT2) c.n_kv_heads = c.n_heads;
  c.validate();
  return c;
}

DecoderConfig DecoderConfig::from_json(const nlohmann::json& j) { return from_json(j, DecoderConfig(), "model"); }

namespace {
const std::map<std::string, nlohmann::json>& presets() {
  static const std::map<std::string, nlohmann::json> p = {
      // The training-speed benchmark shapes (issue: training speed).
      {"gpt2-tiny", {{"arch", "gpt2"}, {"vocab_size", 50257}, {"context", 256}, {"n_layers", 6}, {"d_model", 384},
                     {"n_heads", 6}, {"d_ff", 1536}}},
      {"tiny", {{"arch", "gpt2"}, {"vocab_size", 50257}, {"context", 256}, {"n_layers", 6}, {"d_model", 384},
                {"n_heads", 6}, {"d_ff", 1536}}},  // gpt2-tiny's short name
      {"char", {{"arch", "gpt2"}, {"vocab_size", 256}, {"context", 256}, {"n_layers", 6}, {"d_model", 384},
                {"n_heads", 6}, {"d_ff", 1536}}},
      {"gpt2-small", {{"arch", "gpt2"}, {"vocab_size", 50257}, {"context", 1024}, {"n_layers", 12}, {"d_model", 768},
                      {"n_heads", 12}, {"d_ff", 3072}}},
      {"gpt2-medium", {{"arch", "gpt2"}, {"vocab_size", 50257}, {"context", 1024}, {"n_layers", 24}, {"d_model", 1024},
                       {"n_heads", 16}, {"d_ff", 4096}}},
      // Small Llama-style decoders (RoPE, RMSNorm, SwiGLU, GQA, untied head).
      {"llama-tiny", {{"arch", "llama"}, {"vocab_size", 32000}, {"context", 256}, {"n_layers", 6}, {"d_model", 384},
                      {"n_heads", 6}, {"n_kv_heads", 2}, {"d_ff", 1024}, {"norm_eps", 1e-5}, {"tie_embeddings", false}}},
      {"llama-small", {{"arch", "llama"}, {"vocab_size", 32000}, {"context", 1024}, {"n_layers", 12}, {"d_model", 768},
                       {"n_heads", 12}, {"n_kv_heads", 4}, {"d_ff", 2048}, {"norm_eps", 1e-5}, {"tie_embeddings", false}}},
  };
  return p;
}
}  // namespace

std::vector<std::string> DecoderConfig::preset_names() {
  std::vector<std::string> out;
  for (const auto& [k, v] : presets()) out.push_back(k);
  return out;
}

DecoderConfig DecoderConfig::preset(const std::string& name) {
  auto it = presets().find(name);
  if (it == presets().end()) {
    std::string known;
    for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
    throw ValueError("unknown model preset '" + name + "' (presets: " + known + ")");
  }
  return from_json(it->second, DecoderConfig(), "preset " + name);
}

}  // namespace cornerstone::models

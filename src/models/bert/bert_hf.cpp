// BERT's Hugging Face layout (BertForMaskedLM): tensor names, the split of Cornerstone's fused qkv
// projection into query / key / value, config.json, and the LoRA sites with their module names.
//
//   bert.embeddings.{word,position,token_type}_embeddings.weight, bert.embeddings.LayerNorm.*
//   bert.encoder.layer.<i>.attention.self.{query,key,value}.*   <- blocks.<i>.attn.qkv (rows)
//   bert.encoder.layer.<i>.attention.output.dense.*              <- blocks.<i>.attn.proj
//   bert.encoder.layer.<i>.attention.output.LayerNorm.*          <- blocks.<i>.norm1
//   bert.encoder.layer.<i>.intermediate.dense.*                  <- blocks.<i>.mlp.fc
//   bert.encoder.layer.<i>.output.dense.*                        <- blocks.<i>.mlp.proj
//   bert.encoder.layer.<i>.output.LayerNorm.*                    <- blocks.<i>.norm2
//   bert.encoder.LayerNorm.*   (pre-norm only: Cornerstone's extension, "pre_norm": true)
//   bert.pooler.dense.*, cls.predictions.transform.{dense,LayerNorm}.*, cls.predictions.bias
// The MLM decoder is tied to the word embeddings and not stored, as transformers saves it.
#include "cornerstone/models/bert/bert_hf.h"

#include "cornerstone/core/error.h"
#include "cornerstone/core/json_fields.h"

namespace cornerstone::models {

namespace {

struct Layout {
  std::string hf;          // Hugging Face name
  std::string ours;        // Cornerstone parameter
  int64_t row_begin = -1;  // a row range of ours (a slice of the fused qkv), or -1 for all
  int64_t row_end = -1;
  bool optional = false;   // may be absent when loading (pooler, MLM head)
};

std::vector<Layout> layouts(const EncoderConfig& c) {
  std::vector<Layout> out;
  const int64_t C = c.d_model;
  auto both = [&](const std::string& hf, const std::string& ours, int64_t b = -1, int64_t e = -1, bool optional = false) {
    out.push_back({hf + ".weight", ours + ".weight", b, e, optional});
    out.push_back({hf + ".bias", ours + ".bias", b, e, optional});
  };
  out.push_back({"bert.embeddings.word_embeddings.weight", "embeddings.word.weight"});
  out.push_back({"bert.embeddings.position_embeddings.weight", "embeddings.position.weight"});
  out.push_back({"bert.embeddings.token_type_embeddings.weight", "embeddings.token_type.weight"});
  both("bert.embeddings.LayerNorm", "embeddings.norm");
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string h = "bert.encoder.layer." + std::to_string(i) + ".", b = "blocks." + std::to_string(i) + ".";
    both(h + "attention.self.query", b + "attn.qkv", 0, C);
    both(h + "attention.self.key", b + "attn.qkv", C, 2 * C);
    both(h + "attention.self.value", b + "attn.qkv", 2 * C, 3 * C);
    both(h + "attention.output.dense", b + "attn.proj");
    both(h + "attention.output.LayerNorm", b + "norm1");
    both(h + "intermediate.dense", b + "mlp.fc");
    both(h + "output.dense", b + "mlp.proj");
    both(h + "output.LayerNorm", b + "norm2");
  }
  if (c.pre_norm) both("bert.encoder.LayerNorm", "final_norm");
  both("bert.pooler.dense", "pooler", -1, -1, true);
  both("cls.predictions.transform.dense", "mlm.transform", -1, -1, true);
  both("cls.predictions.transform.LayerNorm", "mlm.norm", -1, -1, true);
  out.push_back({"cls.predictions.bias", "mlm.bias", -1, -1, true});
  return out;
}

}  // namespace

std::vector<std::pair<std::string, Tensor>> BERT::hf_state_dict() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const Layout& l : layouts(cfg_)) {
    Tensor p = parameter(l.ours).detach();
    if (l.row_begin >= 0) p = p.slice(0, l.row_begin, l.row_end);
    out.emplace_back(l.hf, p.contiguous().clone());
  }
  return out;
}

void BERT::load_hf_state_dict(const TensorSource& get, const std::string& source) {
  for (const Layout& l : layouts(cfg_)) {
    const Tensor src = get(l.hf);
    if (!src.defined()) {
      if (l.optional) continue;
      throw FormatError(source + ": missing tensor '" + l.hf + "'");
    }
    Tensor dst = parameter(l.ours).detach();
    if (l.row_begin >= 0) dst = dst.slice(0, l.row_begin, l.row_end);
    if (src.shape() != dst.shape())
      throw FormatError(source + ": tensor '" + l.hf + "' has shape " + src.shape().str() + ", the config implies " + dst.shape().str());
    dst.copy_from(src);
  }
}

std::vector<LinearSite> BERT::linear_sites() const {
  const int64_t C = cfg_.d_model, F = cfg_.d_ff;
  std::vector<LinearSite> out;
  for (int64_t i = 0; i < cfg_.n_layers; ++i) {
    const auto& block = *blocks_[static_cast<size_t>(i)];
    const std::string h = "bert.encoder.layer." + std::to_string(i) + ".";
    out.push_back({&block.attention().qkv(), "qkv", "attn",
                   {{"query", "attention.self.query", h + "attention.self.query", 0, C},
                    {"key", "attention.self.key", h + "attention.self.key", C, 2 * C},
                    {"value", "attention.self.value", h + "attention.self.value", 2 * C, 3 * C}}});
    out.push_back({&block.attention().proj(), "proj", "attn", {{"dense", "attention.output.dense", h + "attention.output.dense", 0, C}}});
    out.push_back({&block.mlp().in(), "fc", "mlp", {{"dense", "intermediate.dense", h + "intermediate.dense", 0, F}}});
    out.push_back({&block.mlp().out(), "proj", "mlp", {{"dense", "output.dense", h + "output.dense", 0, C}}});
  }
  return out;
}

nlohmann::json EncoderConfig::hf_config() const { return models::hf_config(*this); }

nlohmann::json hf_config(const EncoderConfig& c) {
  nlohmann::json j = {{"architectures", {"BertForMaskedLM"}},
                      {"model_type", "bert"},
                      {"vocab_size", c.vocab_size},
                      {"hidden_size", c.d_model},
                      {"num_hidden_layers", c.n_layers},
                      {"num_attention_heads", c.n_heads},
                      {"intermediate_size", c.d_ff},
                      {"hidden_act", "gelu"},
                      {"hidden_dropout_prob", c.dropout},
                      {"attention_probs_dropout_prob", 0.0},  // Cornerstone's fused attention has no dropout
                      {"max_position_embeddings", c.context},
                      {"type_vocab_size", c.type_vocab_size},
                      {"initializer_range", c.init_std},
                      {"layer_norm_eps", c.norm_eps},
                      {"pad_token_id", 0},
                      {"position_embedding_type", "absolute"},
                      {"tie_word_embeddings", true},
                      {"torch_dtype", "float32"}};
  if (c.pre_norm) j["pre_norm"] = true;  // not a transformers key: such a checkpoint is Cornerstone's own
  return j;
}

EncoderConfig encoder_config_from_hf(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) throw FormatError(source + ": expected a JSON object");
  if (j.value("model_type", "") != "bert")
    throw UnsupportedError(source + ": model_type '" + j.value("model_type", "") + "' is not an encoder Cornerstone knows (bert)");
  auto integer = [&](const char* key) { return required_integer(j, key, source); };
  auto number = [&](const char* key, double fallback) { return optional_number(j, key, fallback, source); };
  EncoderConfig c;
  c.vocab_size = integer("vocab_size");
  c.d_model = integer("hidden_size");
  c.n_layers = integer("num_hidden_layers");
  c.n_heads = integer("num_attention_heads");
  c.d_ff = integer("intermediate_size");
  c.context = integer("max_position_embeddings");
  c.type_vocab_size = j.contains("type_vocab_size") ? integer("type_vocab_size") : 2;
  c.norm_eps = number("layer_norm_eps", 1e-12);
  c.dropout = number("hidden_dropout_prob", 0.1);
  c.init_std = number("initializer_range", 0.02);
  c.pre_norm = j.value("pre_norm", false);
  const std::string act = j.value("hidden_act", "gelu");
  if (act != "gelu")
    throw UnsupportedError(source + ": hidden_act '" + act + "' is not supported (BERT's \"gelu\", the erf form, is)");
  const std::string pos = j.value("position_embedding_type", "absolute");
  if (pos != "absolute")
    throw UnsupportedError(source + ": position_embedding_type '" + pos + "' is not supported (\"absolute\" is)");
  c.validate_from(source);
  return c;
}

}  // namespace cornerstone::models

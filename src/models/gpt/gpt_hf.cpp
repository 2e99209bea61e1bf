#include "cornerstone/models/gpt/gpt_hf.h"

#include <functional>
#include <set>

#include "cornerstone/core/error.h"
#include "cornerstone/core/json_fields.h"

namespace cornerstone::models {

namespace {

// A contiguous transposed copy of a 2-D tensor (Conv1D layout <-> Linear layout).
Tensor transposed(const Tensor& t) { return t.detach().transpose(0, 1).contiguous(); }

// Rows [begin, end) of a 2-D tensor (or elements of a 1-D one), as a contiguous copy.
Tensor rows(const Tensor& t, int64_t begin, int64_t end) { return t.detach().slice(0, begin, end).contiguous(); }

}  // namespace

std::vector<HfTensor> hf_tensors(const DecoderConfig& c) {
  std::vector<HfTensor> out;
  const int64_t D = c.head_dim(), q = c.n_heads * D, kv = c.n_kv_heads * D, F = c.d_ff;
  if (c.arch == DecoderArch::GPT2) {
    out.push_back({"transformer.wte.weight", "wte.weight"});
    out.push_back({"transformer.wpe.weight", "wpe.weight"});
    for (int64_t i = 0; i < c.n_layers; ++i) {
      const std::string h = "transformer.h." + std::to_string(i) + ".", b = "blocks." + std::to_string(i) + ".";
      out.push_back({h + "ln_1.weight", b + "norm1.weight"});
      out.push_back({h + "ln_1.bias", b + "norm1.bias"});
      out.push_back({h + "attn.c_attn.weight", b + "attn.qkv.weight", -1, -1, true});
      out.push_back({h + "attn.c_attn.bias", b + "attn.qkv.bias"});
      out.push_back({h + "attn.c_proj.weight", b + "attn.proj.weight", -1, -1, true});
      out.push_back({h + "attn.c_proj.bias", b + "attn.proj.bias"});
      out.push_back({h + "ln_2.weight", b + "norm2.weight"});
      out.push_back({h + "ln_2.bias", b + "norm2.bias"});
      out.push_back({h + "mlp.c_fc.weight", b + "mlp.fc.weight", -1, -1, true});
      out.push_back({h + "mlp.c_fc.bias", b + "mlp.fc.bias"});
      out.push_back({h + "mlp.c_proj.weight", b + "mlp.proj.weight", -1, -1, true});
      out.push_back({h + "mlp.c_proj.bias", b + "mlp.proj.bias"});
    }
    out.push_back({"transformer.ln_f.weight", "norm_f.weight"});
    out.push_back({"transformer.ln_f.bias", "norm_f.bias"});
    if (!c.tie_embeddings) out.push_back({"lm_head.weight", "lm_head.weight"});
  } else {
    out.push_back({"model.embed_tokens.weight", "wte.weight"});
    for (int64_t i = 0; i < c.n_layers; ++i) {
      const std::string h = "model.layers." + std::to_string(i) + ".", b = "blocks." + std::to_string(i) + ".";
      out.push_back({h + "input_layernorm.weight", b + "norm1.weight"});
      out.push_back({h + "self_attn.q_proj.weight", b + "attn.qkv.weight", 0, q});
      out.push_back({h + "self_attn.k_proj.weight", b + "attn.qkv.weight", q, q + kv});
      out.push_back({h + "self_attn.v_proj.weight", b + "attn.qkv.weight", q + kv, q + 2 * kv});
      out.push_back({h + "self_attn.o_proj.weight", b + "attn.proj.weight"});
      out.push_back({h + "post_attention_layernorm.weight", b + "norm2.weight"});
      out.push_back({h + "mlp.gate_proj.weight", b + "mlp.gate_up.weight", 0, F});
      out.push_back({h + "mlp.up_proj.weight", b + "mlp.gate_up.weight", F, 2 * F});
      out.push_back({h + "mlp.down_proj.weight", b + "mlp.down.weight"});
    }
    out.push_back({"model.norm.weight", "norm_f.weight"});
    if (!c.tie_embeddings) out.push_back({"lm_head.weight", "lm_head.weight"});
  }
  return out;
}

std::vector<HfTensor> DecoderConfig::hf_tensors() const { return models::hf_tensors(*this); }

std::vector<std::pair<std::string, Tensor>> hf_state_dict(const GPT& model, DType dtype) {
  if (dtype != DType::F32 && dtype != DType::BF16 && dtype != DType::F16)
    throw UnsupportedError("Hugging Face checkpoints hold f32, bf16 or f16 weights, not " + std::string(dtype_name(dtype)));
  std::vector<std::pair<std::string, Tensor>> out;
  for (const HfTensor& l : hf_tensors(model.config())) {
    Tensor p = model.parameter(l.ours);
    if (l.row_begin >= 0) p = rows(p, l.row_begin, l.row_end);
    p = l.transpose ? transposed(p) : p.detach();
    out.emplace_back(l.hf, dtype == DType::F32 ? p : p.to(dtype));
  }
  return out;
}

std::vector<std::string> hf_tensor_names(const DecoderConfig& cfg) {
  std::vector<std::string> out;
  for (const HfTensor& l : hf_tensors(cfg)) out.push_back(l.hf);
  return out;
}

std::vector<std::string> unexpected_hf_tensors(const DecoderConfig& cfg, const std::vector<std::string>& present) {
  std::set<std::string> known;
  for (const HfTensor& l : hf_tensors(cfg)) {
    known.insert(l.hf);
    if (l.hf.rfind("transformer.", 0) == 0) known.insert(l.hf.substr(12));
  }
  if (cfg.tie_embeddings) known.insert("lm_head.weight");
  auto ends_with = [](const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  std::vector<std::string> out;
  for (const auto& n : present) {
    if (known.count(n) || ends_with(n, ".attn.bias") || ends_with(n, ".attn.masked_bias") || ends_with(n, "rotary_emb.inv_freq"))
      continue;
    out.push_back(n);
  }
  return out;
}

void load_hf_state_dict(GPT& model, const std::function<Tensor(const std::string&)>& get, const std::string& source) {
  const bool gpt2 = model.config().arch == DecoderArch::GPT2;
  for (const HfTensor& l : hf_tensors(model.config())) {
    Tensor src = get(l.hf);
    if (!src.defined() && gpt2 && l.hf.rfind("transformer.", 0) == 0) src = get(l.hf.substr(12));  // GPT2Model naming
    if (!src.defined()) throw FormatError(source + ": missing tensor '" + l.hf + "'");
    if (l.transpose) {
      if (src.ndim() != 2) throw FormatError(source + ": tensor '" + l.hf + "' should be 2-d, has shape " + src.shape().str());
      src = src.transpose(0, 1);
    }
    Tensor dst = model.parameter(l.ours).detach();
    if (l.row_begin >= 0) dst = dst.slice(0, l.row_begin, l.row_end);
    if (src.shape() != dst.shape())
      throw FormatError(source + ": tensor '" + l.hf + "' has shape " + (l.transpose ? src.transpose(0, 1) : src).shape().str() +
                        ", the config implies " + (l.transpose ? dst.transpose(0, 1) : dst).shape().str());
    dst.copy_from(src);
  }
}

std::vector<std::pair<std::string, Tensor>> GPT::hf_state_dict() const { return models::hf_state_dict(*this); }
void GPT::load_hf_state_dict(const TensorSource& get, const std::string& source) { models::load_hf_state_dict(*this, get, source); }

std::vector<LinearSite> GPT::linear_sites() const {
  const DecoderConfig& c = cfg_;
  const int64_t D = c.head_dim(), q = c.n_heads * D, kv = c.n_kv_heads * D, F = c.d_ff, C = c.d_model;
  std::vector<LinearSite> out;
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const auto& block = *blocks_[static_cast<size_t>(i)];
    if (c.arch == DecoderArch::GPT2) {
      const std::string h = "transformer.h." + std::to_string(i) + ".";
      out.push_back({&block.attention().qkv(), "qkv", "attn", {{"c_attn", "attn.c_attn", h + "attn.c_attn", 0, q + 2 * kv}}});
      out.push_back({&block.attention().proj(), "proj", "attn", {{"c_proj", "attn.c_proj", h + "attn.c_proj", 0, C}}});
      out.push_back({&block.mlp().in(), "fc", "mlp", {{"c_fc", "mlp.c_fc", h + "mlp.c_fc", 0, F}}});
      out.push_back({&block.mlp().out(), "proj", "mlp", {{"c_proj", "mlp.c_proj", h + "mlp.c_proj", 0, C}}});
    } else {
      const std::string h = "model.layers." + std::to_string(i) + ".";
      out.push_back({&block.attention().qkv(), "qkv", "attn",
                     {{"q_proj", "self_attn.q_proj", h + "self_attn.q_proj", 0, q},
                      {"k_proj", "self_attn.k_proj", h + "self_attn.k_proj", q, q + kv},
                      {"v_proj", "self_attn.v_proj", h + "self_attn.v_proj", q + kv, q + 2 * kv}}});
      out.push_back({&block.attention().proj(), "proj", "attn", {{"o_proj", "self_attn.o_proj", h + "self_attn.o_proj", 0, C}}});
      out.push_back({&block.mlp().in(), "gate_up", "mlp",
                     {{"gate_proj", "mlp.gate_proj", h + "mlp.gate_proj", 0, F}, {"up_proj", "mlp.up_proj", h + "mlp.up_proj", F, 2 * F}}});
      out.push_back({&block.mlp().out(), "down", "mlp", {{"down_proj", "mlp.down_proj", h + "mlp.down_proj", 0, C}}});
    }
  }
  return out;
}

namespace {

const char* torch_dtype(DType t) {
  switch (t) {
    case DType::F32: return "float32";
    case DType::BF16: return "bfloat16";
    case DType::F16: return "float16";
    default: throw UnsupportedError("Hugging Face checkpoints hold f32, bf16 or f16 weights, not " + std::string(dtype_name(t)));
  }
}

// config.json with torch_dtype float32; hf_config sets the real dtype.
nlohmann::json config_json(const DecoderConfig& c) {
  if (c.arch == DecoderArch::GPT2) {
    return {{"architectures", {"GPT2LMHeadModel"}},
            {"model_type", "gpt2"},
            {"vocab_size", c.vocab_size},
            {"n_positions", c.context},
            {"n_ctx", c.context},
            {"n_embd", c.d_model},
            {"n_layer", c.n_layers},
            {"n_head", c.n_heads},
            {"n_inner", c.d_ff},
            {"activation_function", "gelu_new"},
            {"layer_norm_epsilon", c.norm_eps},
            {"initializer_range", c.init_std},
            {"resid_pdrop", c.dropout},
            {"embd_pdrop", c.dropout},
            {"attn_pdrop", 0.0},
            {"tie_word_embeddings", c.tie_embeddings},
            {"torch_dtype", "float32"}};
  }
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"vocab_size", c.vocab_size},
          {"max_position_embeddings", c.context},
          {"hidden_size", c.d_model},
          {"intermediate_size", c.d_ff},
          {"num_hidden_layers", c.n_layers},
          {"num_attention_heads", c.n_heads},
          {"num_key_value_heads", c.n_kv_heads},
          {"hidden_act", "silu"},
          {"rms_norm_eps", c.norm_eps},
          {"rope_theta", c.rope_theta},
          {"attention_bias", false},
          {"mlp_bias", false},
          {"head_dim", c.head_dim()},
          {"rope_scaling", nullptr},
          {"initializer_range", c.init_std},
          {"tie_word_embeddings", c.tie_embeddings},
          {"torch_dtype", "float32"}};
}

}  // namespace

nlohmann::json DecoderConfig::hf_config() const { return models::hf_config(*this, DType::F32); }

nlohmann::json hf_config(const DecoderConfig& c, DType dtype) {
  nlohmann::json j = config_json(c);
  j["torch_dtype"] = torch_dtype(dtype);
  return j;
}

DecoderConfig config_from_hf(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) throw FormatError(source + ": expected a JSON object");
  const std::string type = j.value("model_type", "");
  auto integer = [&](const char* key) { return required_integer(j, key, source); };
  auto number = [&](const char* key, double fallback) { return optional_number(j, key, fallback, source); };
  DecoderConfig c;
  if (type == "gpt2") {
    c.arch = DecoderArch::GPT2;
    c.vocab_size = integer("vocab_size");
    c.context = integer("n_positions");
    c.d_model = integer("n_embd");
    c.n_layers = integer("n_layer");
    c.n_heads = c.n_kv_heads = integer("n_head");
    c.d_ff = j.contains("n_inner") && !j["n_inner"].is_null() ? integer("n_inner") : 4 * c.d_model;
    c.norm_eps = number("layer_norm_epsilon", 1e-5);
    c.tie_embeddings = j.value("tie_word_embeddings", true);
    const std::string act = j.value("activation_function", "gelu_new");
    if (act != "gelu_new" && act != "gelu_pytorch_tanh")
      throw UnsupportedError(source + ": activation_function '" + act + "' is not supported (gelu_new is)");
  } else if (type == "llama" || type == "qwen2" || type == "mistral") {
    c.arch = DecoderArch::Llama;
    c.vocab_size = integer("vocab_size");
    c.context = integer("max_position_embeddings");
    c.d_model = integer("hidden_size");
    c.d_ff = integer("intermediate_size");
    c.n_layers = integer("num_hidden_layers");
    c.n_heads = integer("num_attention_heads");
    c.n_kv_heads = j.contains("num_key_value_heads") ? integer("num_key_value_heads") : c.n_heads;
    c.norm_eps = number("rms_norm_eps", 1e-6);
    c.rope_theta = number("rope_theta", 10000.0);
    c.tie_embeddings = j.value("tie_word_embeddings", false);
    if (j.contains("rope_scaling") && !j["rope_scaling"].is_null())
      throw UnsupportedError(source + ": rope_scaling is not supported yet");
    if (j.value("attention_bias", false) || type == "qwen2")
      throw UnsupportedError(source + ": attention biases (" + type + ") are not supported yet");
  } else {
    throw UnsupportedError(source + ": model_type '" + type + "' is not supported (gpt2, llama are)");
  }
  c.init_std = number("initializer_range", 0.02);
  c.validate_from(source);
  // After validation: num_attention_heads is known to be positive here, so the division is safe.
  if (c.arch == DecoderArch::Llama && j.contains("head_dim") && j["head_dim"].is_number_integer() &&
      j["head_dim"].get<int64_t>() != c.d_model / c.n_heads)
    throw UnsupportedError(source + ": head_dim != hidden_size / num_attention_heads is not supported");
  return c;
}

}  // namespace cornerstone::models

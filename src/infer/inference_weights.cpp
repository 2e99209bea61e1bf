#include "cornerstone/infer/inference_weights.h"

#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "cornerstone/core/error.h"
#include "cornerstone/infer/quantized_folder.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/safetensors.h"
#include "cornerstone/io/safetensors_checkpoint.h"
#include "cornerstone/models/family.h"
#include "cornerstone/models/load.h"

namespace cornerstone::infer {

namespace fs = std::filesystem;

namespace {

// The blocks the decoder runner runs; anything else is named.
void check_runnable(const models::DecoderStack& s) {
  const nn::BlockConfig& b = s.block;
  auto refuse = [](const std::string& what) {
    throw UnsupportedError("inference runner: " + what + " are not supported (it runs pre-norm, causal blocks with an MLP)");
  };
  if (!b.pre_norm) refuse("post-norm blocks");
  if (!b.causal) refuse("bidirectional blocks");
  if (b.cross_attention) refuse("cross-attention blocks");
  if (b.feed_forward != nn::FeedForwardKind::MLP) refuse("feed-forwards other than the MLP");
}

}  // namespace

template <class Matrix, class Vector>
void InferenceWeights::build(const models::DecoderStack& s, WeightFormat format, Matrix&& matrix, Vector&& vector) {
  check_runnable(s);
  stack_ = s;
  format_ = format;
  const nn::BlockConfig& bc = s.block;
  const int64_t C = bc.d_model, D = bc.head_dim, F = bc.d_ff, Hq = bc.n_heads, Hkv = bc.n_kv_heads;
  const bool gelu = bc.mlp == nn::MlpKind::Gelu;
  auto required = [&](const std::string& n) {
    Tensor t = vector(n);
    if (!t.defined()) throw FormatError("decoder weights: missing parameter '" + n + "'");
    return t;
  };
  wte_ = matrix(s.token_embedding, "", s.vocab_size, C);
  if (!s.position_embedding.empty()) wpe_ = required(s.position_embedding);
  layers_.clear();
  for (int64_t l = 0; l < s.n_layers; ++l) {
    const std::string b = s.blocks + std::to_string(l) + ".";
    DecoderLayerWeights L;
    L.norm1_weight = required(b + "norm1.weight"), L.norm1_bias = vector(b + "norm1.bias");
    L.norm2_weight = required(b + "norm2.weight"), L.norm2_bias = vector(b + "norm2.bias");
    L.qkv = matrix(b + "attn.qkv.weight", b + "attn.qkv.bias", (Hq + 2 * Hkv) * D, C);
    L.proj = matrix(b + "attn.proj.weight", b + "attn.proj.bias", C, Hq * D);
    L.up = gelu ? matrix(b + "mlp.fc.weight", b + "mlp.fc.bias", F, C) : matrix(b + "mlp.gate_up.weight", b + "mlp.gate_up.bias", 2 * F, C);
    L.down = gelu ? matrix(b + "mlp.proj.weight", b + "mlp.proj.bias", C, F) : matrix(b + "mlp.down.weight", b + "mlp.down.bias", C, F);
    layers_.push_back(std::move(L));
  }
  norm_f_weight_ = required(s.final_norm + "weight");
  norm_f_bias_ = vector(s.final_norm + "bias");
  lm_head_ = s.tied() ? wte_ : matrix(s.lm_head, "", s.vocab_size, C);
  if (s.rope_theta > 0) rope_ = ops::RopeCache(s.rope_theta, D, s.context);
}

InferenceWeights InferenceWeights::from_model(const models::PretrainedModel& model, WeightFormat format) {
  const std::optional<models::DecoderStack> stack = model.config().decoder_stack();
  if (!stack || !model.as<models::CausalLM>())
    throw UnsupportedError("a " + model.model_type() + " model has no inference runner: it is not a decoder-only stack of standard blocks");
  std::map<std::string, Tensor> params;
  for (const auto& [n, p] : model.named_parameters()) params.emplace(n, p);
  auto find = [&](const std::string& n) {
    const auto it = params.find(n);
    return it == params.end() ? Tensor() : it->second.detach().contiguous();
  };
  auto vector = [&](const std::string& n) {
    const Tensor t = find(n);
    return t.defined() ? t.clone() : t;
  };
  auto matrix = [&](const std::string& n, const std::string& bias, int64_t out, int64_t in) {
    const Tensor p = model.parameter(n).detach().contiguous();  // ValueError naming close names when absent
    if (p.shape() != Shape({out, in}))
      throw ShapeError("decoder weights: parameter '" + n + "' is " + p.shape().str() + ", the stack implies (" + std::to_string(out) +
                       ", " + std::to_string(in) + ")");
    const Tensor b = bias.empty() ? Tensor() : find(bias);
    return QuantLinear::from_float(format, p.data<float>(), out, in, in, 1, b.defined() ? b.data<float>() : nullptr);
  };
  InferenceWeights w;
  w.build(*stack, format, matrix, vector);
  return w;
}

namespace {

// The __metadata__ of every file of a checkpoint (block tensors are described there).
std::map<std::string, std::string> checkpoint_metadata(const io::SafeTensorsCheckpoint& ckpt) {
  std::map<std::string, std::string> all;
  for (const std::string& f : ckpt.files()) {
    const auto m = io::SafeTensorsFile::open(f).metadata();
    all.insert(m.begin(), m.end());
  }
  return all;
}

}  // namespace

InferenceWeights InferenceWeights::load(const std::string& dir, std::optional<WeightFormat> want) {
  const std::string cfg_path = (fs::path(dir) / "config.json").string();
  std::optional<WeightFormat> stored;
  nlohmann::json j;
  if (fs::exists(cfg_path)) {
    try {
      j = nlohmann::json::parse(io::read_file(cfg_path));
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(cfg_path + ": not valid JSON: " + e.what());
    }
    stored = folder_format(j, cfg_path);
  }
  // Float folders (f32, bf16, f16 tensors; single file or shards) load through the training
  // loader, with all its checks, and are converted in memory.
  if (!stored || *stored == WeightFormat::F32 || *stored == WeightFormat::BF16) {
    const auto model = models::load_model(dir);
    return from_model(*model, want.value_or(stored.value_or(WeightFormat::F32)));
  }
  if (want && *want != *stored)
    throw ValueError("model '" + dir + "' holds " + std::string(kernels::weight_format_name(*stored)) + " weights; they cannot be loaded as " +
                     std::string(kernels::weight_format_name(*want)) + " (quantize the f32 model instead)");

  // GGUF blocks: every matrix a U8 tensor of blocks (infer/quantized_folder.h), the rest f32. The
  // family reads the config and names the tensors; no f32 model is built.
  const std::unique_ptr<models::ModelConfig> cfg = models::model_config_from_hf(j, cfg_path);
  const std::optional<models::DecoderStack> stack = cfg->decoder_stack();
  if (!stack) throw UnsupportedError(cfg_path + ": a " + cfg->model_type() + " model has no inference runner (not a decoder stack)");
  if (!io::SafeTensorsCheckpoint::exists(dir)) throw IOError("model '" + dir + "': missing model.safetensors");
  const auto ckpt = io::SafeTensorsCheckpoint::open(dir);
  const auto metadata = checkpoint_metadata(ckpt);
  std::map<std::string, std::vector<models::HfTensor>> pieces;  // parameter -> its Hugging Face tensors
  for (const models::HfTensor& t : cfg->hf_tensors()) pieces[t.ours].push_back(t);
  auto need = [&](const models::HfTensor& t) -> const io::SafeTensorInfo& {
    if (!ckpt.contains(t.hf)) throw FormatError(dir + ": missing tensor '" + t.hf + "'");
    return ckpt.info(t.hf);
  };
  auto vector = [&](const std::string& n) {  // undefined when the layout has no such parameter
    const auto it = pieces.find(n);
    if (it == pieces.end()) return Tensor();
    const models::HfTensor& t = it->second.front();
    need(t);
    return ckpt.get(t.hf).to(DType::F32).contiguous();
  };
  auto matrix = [&](const std::string& n, const std::string& bias, int64_t out, int64_t in) {
    if (!pieces.count(n)) throw FormatError(cfg_path + ": the " + cfg->model_type() + " layout has no tensor for parameter '" + n + "'");
    Tensor b = bias.empty() ? Tensor() : vector(bias);
    const float* bp = b.defined() ? b.data<float>() : nullptr;
    // Each piece is a row range of the parameter, stored (rows, bytes per row).
    std::vector<char> all(kernels::weight_bytes(*stored, out, in));
    const size_t row_bytes = kernels::weight_bytes(*stored, 1, in);
    for (const models::HfTensor& t : pieces.at(n)) {
      const std::string where = ckpt.file_of(t.hf) + ": tensor '" + t.hf + "'";
      const io::SafeTensorInfo& info = need(t);
      if (info.dtype != "U8")
        throw FormatError(where + " is " + info.dtype + "; a " + std::string(kernels::weight_format_name(*stored)) +
                          " folder holds its matrices as U8 blocks");
      const StoredBlocks s = stored_blocks(info, ckpt.get(t.hf), metadata, t.hf, where);
      const int64_t r0 = t.row_begin >= 0 ? t.row_begin : 0, r1 = t.row_begin >= 0 ? t.row_end : out;
      if (s.format != *stored)
        throw FormatError(where + " holds " + std::string(kernels::weight_format_name(s.format)) + " blocks in a " +
                          std::string(kernels::weight_format_name(*stored)) + " folder");
      if (s.rows != r1 - r0 || s.cols != in)
        throw FormatError(where + " is [" + std::to_string(s.rows) + ", " + std::to_string(s.cols) + "], the config implies [" +
                          std::to_string(r1 - r0) + ", " + std::to_string(in) + "]");
      std::memcpy(all.data() + static_cast<size_t>(r0) * row_bytes, s.data, static_cast<size_t>(s.rows) * row_bytes);
    }
    return *stored == WeightFormat::Q8_0 ? QuantLinear::from_blocks(reinterpret_cast<const kernels::BlockQ8_0*>(all.data()), out, in, bp)
                                         : QuantLinear::from_blocks(reinterpret_cast<const kernels::BlockQ4_0*>(all.data()), out, in, bp);
  };
  InferenceWeights w;
  w.build(*stack, *stored, matrix, vector);
  return w;
}

size_t InferenceWeights::decode_bytes() const {
  size_t n = lm_head_.weight_bytes();
  for (const DecoderLayerWeights& l : layers_) n += l.qkv.weight_bytes() + l.proj.weight_bytes() + l.up.weight_bytes() + l.down.weight_bytes();
  return n;
}

size_t InferenceWeights::total_bytes() const {
  size_t n = decode_bytes() + (stack_.tied() ? 0 : wte_.weight_bytes());
  auto add = [&](const Tensor& t) { n += t.defined() ? t.nbytes() : 0; };
  add(wpe_), add(norm_f_weight_), add(norm_f_bias_);
  for (const DecoderLayerWeights& l : layers_) {
    add(l.norm1_weight), add(l.norm1_bias), add(l.norm2_weight), add(l.norm2_bias);
    for (const QuantLinear* q : {&l.qkv, &l.proj, &l.up, &l.down}) add(q->bias());
  }
  return n;
}

}  // namespace cornerstone::infer

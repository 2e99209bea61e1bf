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
#include "cornerstone/models/load.h"
#include "cornerstone/models/gpt/gpt_hf.h"

namespace cornerstone::infer {

namespace fs = std::filesystem;

template <class Matrix, class Vector>
void InferenceWeights::build(const models::DecoderConfig& c, WeightFormat format, Matrix&& matrix, Vector&& vector) {
  config_ = c;
  format_ = format;
  const bool gpt2 = c.arch == models::DecoderArch::GPT2;
  const int64_t C = c.d_model, D = c.head_dim(), F = c.d_ff;
  wte_ = matrix("wte.weight", "", c.vocab_size, C);
  if (gpt2) wpe_ = vector("wpe.weight");
  layers_.clear();
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string b = "blocks." + std::to_string(l) + ".";
    auto bias = [&](const std::string& n) { return gpt2 ? b + n : std::string(); };
    DecoderLayerWeights L;
    L.norm1_weight = vector(b + "norm1.weight");
    L.norm2_weight = vector(b + "norm2.weight");
    if (gpt2) L.norm1_bias = vector(b + "norm1.bias"), L.norm2_bias = vector(b + "norm2.bias");
    L.qkv = matrix(b + "attn.qkv.weight", bias("attn.qkv.bias"), (c.n_heads + 2 * c.n_kv_heads) * D, C);
    L.proj = matrix(b + "attn.proj.weight", bias("attn.proj.bias"), C, c.n_heads * D);
    L.up = gpt2 ? matrix(b + "mlp.fc.weight", b + "mlp.fc.bias", F, C) : matrix(b + "mlp.gate_up.weight", "", 2 * F, C);
    L.down = gpt2 ? matrix(b + "mlp.proj.weight", b + "mlp.proj.bias", C, F) : matrix(b + "mlp.down.weight", "", C, F);
    layers_.push_back(std::move(L));
  }
  norm_f_weight_ = vector("norm_f.weight");
  if (gpt2) norm_f_bias_ = vector("norm_f.bias");
  lm_head_ = c.tie_embeddings ? wte_ : matrix("lm_head.weight", "", c.vocab_size, C);
  if (!c.learned_positions()) rope_ = ops::RopeCache(c.rope_theta, D, c.context);
}

InferenceWeights InferenceWeights::from_model(const models::GPT& model, WeightFormat format) {
  InferenceWeights w;
  auto vector = [&](const std::string& n) { return model.parameter(n).detach().contiguous().clone(); };
  auto matrix = [&](const std::string& n, const std::string& bias, int64_t out, int64_t in) {
    const Tensor p = model.parameter(n).detach().contiguous();
    const Tensor b = bias.empty() ? Tensor() : model.parameter(bias).detach().contiguous();
    return QuantLinear::from_float(format, p.data<float>(), out, in, in, 1, b.defined() ? b.data<float>() : nullptr);
  };
  w.build(model.config(), format, matrix, vector);
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
    const auto model = models::load_gpt(dir);
    return from_model(*model, want.value_or(stored.value_or(WeightFormat::F32)));
  }
  if (want && *want != *stored)
    throw ValueError("model '" + dir + "' holds " + std::string(kernels::weight_format_name(*stored)) + " weights; they cannot be loaded as " +
                     std::string(kernels::weight_format_name(*want)) + " (quantize the f32 model instead)");

  // GGUF blocks: every matrix a U8 tensor of blocks (infer/quantized_folder.h), the rest f32.
  const models::DecoderConfig cfg = models::config_from_hf(j, cfg_path);
  if (!io::SafeTensorsCheckpoint::exists(dir)) throw IOError("model '" + dir + "': missing model.safetensors");
  const auto ckpt = io::SafeTensorsCheckpoint::open(dir);
  const auto metadata = checkpoint_metadata(ckpt);
  std::map<std::string, std::vector<models::HfTensor>> pieces;  // parameter -> its Hugging Face tensors
  for (const models::HfTensor& t : models::hf_tensors(cfg)) pieces[t.ours].push_back(t);
  auto need = [&](const models::HfTensor& t) -> const io::SafeTensorInfo& {
    if (!ckpt.contains(t.hf)) throw FormatError(dir + ": missing tensor '" + t.hf + "'");
    return ckpt.info(t.hf);
  };
  auto vector = [&](const std::string& n) {
    const models::HfTensor& t = pieces.at(n).front();
    need(t);
    return ckpt.get(t.hf).to(DType::F32).contiguous();
  };
  auto matrix = [&](const std::string& n, const std::string& bias, int64_t out, int64_t in) {
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
  w.build(cfg, *stored, matrix, vector);
  return w;
}

size_t InferenceWeights::decode_bytes() const {
  size_t n = lm_head_.weight_bytes();
  for (const DecoderLayerWeights& l : layers_) n += l.qkv.weight_bytes() + l.proj.weight_bytes() + l.up.weight_bytes() + l.down.weight_bytes();
  return n;
}

size_t InferenceWeights::total_bytes() const {
  size_t n = decode_bytes() + (config_.tie_embeddings ? 0 : wte_.weight_bytes());
  auto add = [&](const Tensor& t) { n += t.defined() ? t.nbytes() : 0; };
  add(wpe_), add(norm_f_weight_), add(norm_f_bias_);
  for (const DecoderLayerWeights& l : layers_) {
    add(l.norm1_weight), add(l.norm1_bias), add(l.norm2_weight), add(l.norm2_bias);
    for (const QuantLinear* q : {&l.qkv, &l.proj, &l.up, &l.down}) add(q->bias());
  }
  return n;
}

}  // namespace cornerstone::infer

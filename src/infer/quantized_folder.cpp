#include "cornerstone/infer/quantized_folder.h"

#include <filesystem>
#include <map>
#include <vector>

#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/staged_folder.h"
#include "cornerstone/models/load.h"
#include "cornerstone/ops/quantize.h"
#include "cornerstone/kernels/quant.h"

namespace cornerstone::infer {

namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

size_t block_bytes(WeightFormat f) { return f == WeightFormat::Q8_0 ? sizeof(kernels::BlockQ8_0) : sizeof(kernels::BlockQ4_0); }

// Rows [r0, r1) of a (rows, cols) f32 matrix as a U8 tensor of GGUF blocks (r1 - r0, bytes per row).
Tensor quantize_rows(const std::string& name, const Tensor& w, int64_t r0, int64_t r1, WeightFormat f) {
  const int64_t cols = w.size(1);
  if (cols % kernels::kQuantBlock != 0)
    throw ShapeError("quantize: " + std::string(kernels::weight_format_name(f)) + " needs rows of a multiple of 32 weights; '" + name +
                     "' has " + std::to_string(cols) + " (use bf16 for this model)");
  const Tensor q = ops::quantize(w.detach().slice(0, r0, r1).contiguous(), f == WeightFormat::Q8_0 ? DType::Q8_0 : DType::Q4_0);
  return Tensor::from_storage(q.storage(), q.byte_offset(), {r1 - r0, static_cast<int64_t>(q.nbytes()) / (r1 - r0)}, DType::U8);
}

// Through AtomicFile, so the copy is fsync'ed before the folder is swapped in.
void copy_if_exists(const fs::path& from, const fs::path& to) {
  if (fs::exists(from) && !fs::equivalent(from.parent_path(), to.parent_path()))
    io::write_file_atomic(to.string(), io::read_file(from.string()));
}

}  // namespace

bool is_format_matrix(const std::string& p) {
  return p == "wte.weight" || p == "lm_head.weight" || ends_with(p, ".attn.qkv.weight") || ends_with(p, ".attn.proj.weight") ||
         ends_with(p, ".mlp.fc.weight") || ends_with(p, ".mlp.proj.weight") || ends_with(p, ".mlp.gate_up.weight") ||
         ends_with(p, ".mlp.down.weight");
}

std::optional<WeightFormat> folder_format(const nlohmann::json& config, const std::string& where) {
  if (!config.contains("quantization") || config["quantization"].is_null()) return std::nullopt;
  const auto& q = config["quantization"];
  if (!q.is_object() || !q.contains("format") || !q["format"].is_string())
    throw FormatError(where + ": \"quantization\" must be an object with a \"format\" string, got " + q.dump());
  try {
    return kernels::weight_format_from_name(q["format"].get<std::string>());
  } catch (const ValueError& e) {
    throw FormatError(where + ": quantization: " + e.what());
  }
}

StoredBlocks stored_blocks(const io::SafeTensorInfo& info, const Tensor& data, const std::map<std::string, std::string>& meta,
                           const std::string& name, const std::string& where) {
  const auto it = meta.find(name);
  if (it == meta.end())
    throw FormatError(where + " holds raw bytes (U8) but __metadata__ has no entry naming its format and shape");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception&) {
    throw FormatError(where + ": its __metadata__ entry is not JSON: " + it->second);
  }
  if (!j.is_object() || !j.contains("format") || !j["format"].is_string() || !j.contains("shape") || !j["shape"].is_array() ||
      j["shape"].size() != 2 || !j["shape"][0].is_number_integer() || !j["shape"][1].is_number_integer())
    throw FormatError(where + ": __metadata__ entry must be {\"format\": ..., \"shape\": [rows, cols]}, got " + it->second);
  StoredBlocks s{};
  try {
    s.format = kernels::weight_format_from_name(j["format"].get<std::string>());
  } catch (const ValueError& e) {
    throw FormatError(where + ": " + e.what());
  }
  if (s.format != WeightFormat::Q8_0 && s.format != WeightFormat::Q4_0)
    throw FormatError(where + ": a U8 tensor must hold q8_0 or q4_0 blocks, not " + std::string(kernels::weight_format_name(s.format)));
  s.rows = j["shape"][0].get<int64_t>(), s.cols = j["shape"][1].get<int64_t>();
  if (s.rows <= 0 || s.cols <= 0 || s.cols % kernels::kQuantBlock != 0)
    throw FormatError(where + ": shape [" + std::to_string(s.rows) + ", " + std::to_string(s.cols) +
                      "] is not a matrix of whole 32-weight blocks");
  const int64_t bpr = s.cols / kernels::kQuantBlock * static_cast<int64_t>(block_bytes(s.format));
  const int64_t stored = static_cast<int64_t>(info.end - info.begin);
  if (info.shape.ndim() != 2 || info.shape.dim(0) != s.rows || info.shape.dim(1) != bpr || stored != s.rows * bpr)
    throw FormatError(where + ": " + std::string(kernels::weight_format_name(s.format)) + " [" + std::to_string(s.rows) + ", " +
                      std::to_string(s.cols) + "] needs " + std::to_string(s.rows) + " rows of " + std::to_string(bpr) +
                      " bytes, the file holds shape " + info.shape.str() + " (" + std::to_string(stored) +
                      " bytes): truncated or damaged blocks; quantize the model again");
  s.data = data.raw_data();
  return s;
}

void save_quantized_model(const models::PretrainedModel& model, WeightFormat format, const std::string& dir, const std::string& source_dir) {
  const auto layout = model.config().hf_tensors();
  if (!model.config().decoder_stack() || layout.empty())
    throw UnsupportedError("quantize: a " + model.model_type() + " model is not a decoder stack; quantized folders are for generation");
  // Written whole beside DIR, then swapped in: a crash leaves DIR as it was (a previous
  // quantization stays loadable), never new weights beside an old config.json.
  io::StagedFolder out(dir, io::StagedFolder::Existing::Replace, [](const std::string& n) {
    return n == "model.safetensors" || n == "config.json" || n == "tokenizer.json" || n == "tokenizer_config.json" ||
           n == "generation_config.json";
  });
  const fs::path staged(out.path());
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::map<std::string, std::string> metadata{{"format", "pt"}};
  for (const models::HfTensor& l : layout) {
    // The Hugging Face tensor: the parameter, or its rows, in the stored layout.
    Tensor hf = model.parameter(l.ours).detach();
    if (l.row_begin >= 0) hf = hf.slice(0, l.row_begin, l.row_end);
    hf = (l.transpose ? hf.transpose(0, 1) : hf).contiguous();
    if (format == WeightFormat::F32 || !is_format_matrix(l.ours)) {
      tensors.emplace_back(l.hf, hf);
    } else if (format == WeightFormat::BF16) {
      tensors.emplace_back(l.hf, hf.to(DType::BF16));
    } else {
      const Tensor w = model.parameter(l.ours);
      const int64_t r0 = l.row_begin >= 0 ? l.row_begin : 0, r1 = l.row_begin >= 0 ? l.row_end : w.size(0);
      tensors.emplace_back(l.hf, quantize_rows(l.hf, w, r0, r1, format));
      metadata[l.hf] = nlohmann::json{{"format", kernels::weight_format_name(format)}, {"shape", {r1 - r0, w.size(1)}}}.dump();
    }
  }
  io::save_safetensors((staged / "model.safetensors").string(), tensors, metadata);
  // The source's config.json keeps keys Cornerstone does not interpret (e.g. a chat template name).
  nlohmann::json cfg = model.hf_config();
  const fs::path src_cfg = fs::path(source_dir) / "config.json";
  if (!source_dir.empty() && fs::exists(src_cfg)) {
    try {
      cfg = nlohmann::json::parse(io::read_file(src_cfg.string()));
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(src_cfg.string() + ": not valid JSON: " + e.what());
    }
  }
  cfg.erase("quantization");
  cfg["torch_dtype"] = format == WeightFormat::BF16 ? "bfloat16" : "float32";
  if (format != WeightFormat::F32)
    cfg["quantization"] = {{"format", kernels::weight_format_name(format)}, {"block_size", kernels::kQuantBlock}};
  io::write_file_atomic((staged / "config.json").string(), cfg.dump(2) + "\n");
  if (!source_dir.empty()) {
    const std::string tok = models::find_tokenizer(source_dir);
    if (!tok.empty()) {
      copy_if_exists(tok, staged / "tokenizer.json");
      copy_if_exists(fs::path(tok).parent_path() / "tokenizer_config.json", staged / "tokenizer_config.json");
    }
    copy_if_exists(fs::path(source_dir) / "generation_config.json", staged / "generation_config.json");
  }
  out.commit();
}

}  // namespace cornerstone::infer

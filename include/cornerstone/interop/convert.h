// Moving models between Cornerstone, Hugging Face transformers and llama.cpp: the export and import
// entry points behind `cornerstone export` / `cornerstone import`.
//
//   export_model("runs/gpt", "out/gpt-hf", {.format = ExportFormat::HF, .type = DType::BF16});
//   export_model("runs/gpt", "out/gpt.gguf", {.format = ExportFormat::GGUF, .type = DType::Q8_0});
//   import_model("out/gpt.gguf", "runs/from-gguf");      // f32 weights + tokenizer.json
//
// Hugging Face folder: config.json (torch_dtype, special token ids), generation_config.json,
// model.safetensors or model-0000i-of-0000n.safetensors + model.safetensors.index.json,
// tokenizer.json + tokenizer_config.json. GGUF: one file (models/gpt_gguf.h,
// models/gguf_tokenizer.h). Import writes a Cornerstone model folder (an HF folder in f32) that
// `cornerstone generate --model` runs.
//
// Outputs appear complete or not at all: a folder is staged beside its destination and renamed
// into place, a file written to a temporary name and renamed. An existing non-empty destination
// is refused, never modified.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cornerstone/core/dtype.h"
#include "cornerstone/models/pretrained.h"
#include "cornerstone/tokenize/tokenizer.h"

namespace cornerstone::interop {

enum class ExportFormat { HF, GGUF };
// "hf" / "gguf"; throws ValueError naming the accepted values.
ExportFormat export_format_from_name(const std::string& name);

struct ExportOptions {
  ExportFormat format = ExportFormat::HF;
  DType type = DType::F32;     // hf: f32, f16, bf16; gguf: also q8_0, q4_0
  uint64_t shard_bytes = 0;    // hf: largest shard (0: a single model.safetensors)
  std::string tokenizer;       // tokenizer file or folder (default: the model folder's tokenizer.json)
  std::string name;            // gguf general.name (default: the model folder's name)
  bool embed_tokenizer_json = true;  // gguf: also store tokenizer.huggingface.json
};

struct ConvertReport {
  std::vector<std::string> files;  // written, relative to the output folder (or the output file)
  uint64_t bytes = 0;              // total size written
  std::vector<std::string> notes;  // decisions the user should know about (fallback types, ...)
};

// Exports a model of any family already in memory (with its tokenizer, if any). GGUF needs a
// family with a GGUF layout (models::Family::to_gguf).
ConvertReport export_pretrained(const models::PretrainedModel& model, const tokenize::Tokenizer* tokenizer, const std::string& out,
                         const ExportOptions& options);
// Loads MODEL_DIR (a run, checkpoint or Hugging Face folder) and its tokenizer, then exports.
ConvertReport export_model(const std::string& model_dir, const std::string& out, const ExportOptions& options);

// Imports a GGUF file or a Hugging Face folder (single-file or sharded safetensors) into a new
// Cornerstone model folder OUT: config.json, model.safetensors (f32), tokenizer.json,
// generation_config.json. Throws (and leaves no OUT) on any error.
ConvertReport import_model(const std::string& from, const std::string& out);

}  // namespace cornerstone::interop

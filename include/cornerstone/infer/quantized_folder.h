// Quantized model folders, as `cornerstone quantize` writes them: a Hugging Face-style folder whose
// matrices are held in a weight format.
//
//   config.json        the model's config.json plus "quantization": {"format": "q4_0", "block_size": 32}
//   model.safetensors  Hugging Face tensor names. The matrices (token embedding, attention and MLP
//                      projections, LM head) in the format:
//                        bf16         BF16 tensors in the Hugging Face layout (the folder opens in
//                                     transformers as a bfloat16 checkpoint)
//                        q8_0, q4_0   U8 tensors of raw GGUF blocks, shape (rows, bytes per row), a row
//                                     being one output feature (blocks run along the input dimension,
//                                     also for GPT-2's transposed Conv1D weights), with a __metadata__
//                                     entry under the tensor's name: {"format":"q4_0","shape":[rows,cols]}
//                      and everything else (norms, biases, GPT-2's position table) F32 as in a plain folder.
//   tokenizer.json     (and tokenizer_config.json, generation_config.json) copied from the source.
//
// Loading: infer::InferenceWeights::load (generate, eval), which checks every block tensor's bytes
// against its shape.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cornerstone/infer/quant_linear.h"
#include "cornerstone/io/safetensors.h"
#include "cornerstone/models/pretrained.h"

namespace cornerstone::infer {

// Writes `model` (a decoder stack: ModelConfig::decoder_stack()) into `dir` (created, or replaced
// as a whole in one rename: io::StagedFolder, Existing::Replace) with its matrices in `format`, through its family's Hugging Face table, and copies the tokenizer
// files of `source_dir` when given. f32 writes a plain folder. UnsupportedError for other models.
void save_quantized_model(const models::PretrainedModel& model, WeightFormat format, const std::string& dir,
                          const std::string& source_dir = "");

// Whether a Cornerstone parameter is one of the matrices a quantized folder holds in its format.
bool is_format_matrix(const std::string& param);

// The "quantization" format of a config.json; nullopt for a plain folder. Throws FormatError for
// an unknown or malformed value, naming `where`.
std::optional<WeightFormat> folder_format(const nlohmann::json& config, const std::string& where);

// The format and logical shape of the U8 block tensor `name` (its info and data as read), from its
// entry in the file's __metadata__, checked against its bytes (rows x cols / 32 blocks). Throws
// FormatError starting with `where` when the entry is missing or malformed or the blocks are
// truncated.
struct StoredBlocks {
  WeightFormat format;
  int64_t rows, cols;
  const void* data;
};
StoredBlocks stored_blocks(const io::SafeTensorInfo& info, const Tensor& data, const std::map<std::string, std::string>& metadata,
                           const std::string& name, const std::string& where);

}  // namespace cornerstone::infer

// Loading and saving decoder models as Hugging Face-style folders: config.json +
// model.safetensors (+ tokenizer.json beside them). A pretraining run folder is such a folder.
#pragma once

#include <memory>
#include <string>

#include "cornerstone/models/gpt.h"

namespace cornerstone::models {

// Loads PATH (a run folder, a checkpoint folder, or any folder with config.json +
// model.safetensors, or sharded safetensors with model.safetensors.index.json, in GPT-2 / Llama
// layout; f32, bf16 or f16 weights are converted to f32). Throws naming the file and the tensor or
// key: a missing tensor, a shape mismatch, or a tensor the layout does not use.
std::unique_ptr<GPT> load_gpt(const std::string& path);

// Writes config.json and model.safetensors into an existing folder (each file atomically).
void save_gpt(const GPT& model, const std::string& dir);

// The tokenizer.json that belongs to a model folder: DIR/tokenizer.json, or for a checkpoint
// folder inside a run, the run's. Empty when there is none.
std::string find_tokenizer(const std::string& model_dir);

}  // namespace cornerstone::models

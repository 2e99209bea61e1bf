// Loading and saving models as Hugging Face-style folders: config.json + model.safetensors
// (+ tokenizer.json beside them). A pretraining run folder is such a folder. config.json's
// model_type picks the family: gpt2 / llama (models::GPT) or bert (models::BERT).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cornerstone/models/gpt/gpt.h"
#include "cornerstone/models/pretrained.h"

namespace cornerstone::models {

// Loads a model of any family from PATH (a folder with config.json + model.safetensors, or sharded
// safetensors). Throws naming the file and the tensor or key. `also_present` as for load_gpt.
std::unique_ptr<PretrainedModel> load_model(const std::string& path, const std::vector<std::string>& also_present = {});
// A model of the family and shape that `hf_config` (a config.json) describes, with fresh weights
// from `seed`: the untrained twin of a pretrained model.
std::unique_ptr<PretrainedModel> create_model(const nlohmann::json& hf_config, uint64_t seed, const std::string& source);
// Copies the weights of the model folder PATH into `model` (continued pretraining from another
// run's weights). PATH's config.json must describe the same architecture as `model`: a difference
// is a ValueError naming the first config key that differs; a missing tensor or a shape mismatch
// is a FormatError naming the tensor.
// An image classifier may take the backbone of a model trained on other labels (transfer): when only
// the labels differ, every weight but the classification head is copied and the head keeps its
// fresh values; the returned note says so (empty otherwise).
std::string load_weights_into(PretrainedModel& model, const std::string& path);
// Writes config.json and model.safetensors into an existing folder (each file atomically).
void save_model(const PretrainedModel& model, const std::string& dir);
// PATH/config.json, parsed; throws IOError / FormatError naming the file.
nlohmann::json read_model_config(const std::string& path);

// Loads PATH (a run folder, a checkpoint folder, or any folder with config.json +
// model.safetensors, or sharded safetensors with model.safetensors.index.json, in GPT-2 / Llama
// layout; f32, bf16 or f16 weights are converted to f32). Throws naming the file and the tensor or
// key: a missing tensor, a shape mismatch, or a tensor the layout does not use.
// `also_present`: tensors that may sit beside the model's in the same file and are left to the
// caller (a task head's, e.g. "score.weight").
std::unique_ptr<GPT> load_gpt(const std::string& path, const std::vector<std::string>& also_present = {});

// Writes config.json and model.safetensors into an existing folder (each file atomically).
void save_gpt(const GPT& model, const std::string& dir);

// The tokenizer.json that belongs to a model folder: DIR/tokenizer.json, or for a checkpoint
// folder inside a run, the run's. Empty when there is none.
std::string find_tokenizer(const std::string& model_dir);

}  // namespace cornerstone::models

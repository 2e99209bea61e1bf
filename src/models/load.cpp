#include "cornerstone/models/load.h"

#include <algorithm>
#include <map>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cornerstone/core/checked.h"
#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/safetensors.h"
#include "cornerstone/io/safetensors_checkpoint.h"
#include "cornerstone/models/family.h"

namespace cornerstone::models {

namespace fs = std::filesystem;

nlohmann::json read_model_config(const std::string& path) {
  if (!fs::is_directory(path)) throw IOError("model '" + path + "' is not a folder (expected config.json + model.safetensors; `cornerstone import` turns a GGUF file into one)");
  const std::string cfg_path = (fs::path(path) / "config.json").string();
  if (!fs::exists(cfg_path) || !io::SafeTensorsCheckpoint::exists(path))
    throw IOError("model '" + path + "': missing " +
                  (fs::exists(cfg_path) ? "model.safetensors (or model.safetensors.index.json)" : "config.json") +
                  " (is this a pretraining run that has not saved a checkpoint yet?)");
  try {
    return nlohmann::json::parse(io::read_file(cfg_path));
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(cfg_path + ": not valid JSON: " + e.what());
  }
}

std::unique_ptr<PretrainedModel> create_model(const nlohmann::json& j, uint64_t seed, const std::string& source) {
  return model_config_from_hf(j, source)->create(seed);
}

namespace {

// Quantized folders are for inference only (infer::InferenceWeights reads them).
void reject_quantized(const nlohmann::json& j, const std::string& path) {
  if (j.is_object() && j.contains("quantization") && j["quantization"].is_object()) {
    const std::string f = j["quantization"].value("format", "");
    if (f == "q8_0" || f == "q4_0")
      throw FormatError("model '" + path + "' holds " + f + " weights (quantization in config.json): generate and eval read it; " +
                        "training, fine-tuning and quantize need the f32 model it was made from");
  }
}

// A model's file holds its layout's tensors, and `also_present`; anything else means a variant
// Cornerstone does not run (or a config that does not match the weights), said before loading.
void check_tensors(const PretrainedModel& model, const std::vector<std::string>& names, const std::vector<std::string>& also_present,
                   const std::string& source) {
  auto extra = model.family().unexpected_tensors(model.config(), names);
  std::erase_if(extra, [&](const std::string& n) { return std::find(also_present.begin(), also_present.end(), n) != also_present.end(); });
  if (extra.empty()) return;
  std::string list;
  for (size_t i = 0; i < extra.size() && i < 5; ++i) list += (i ? ", '" : "'") + extra[i] + "'";
  if (extra.size() > 5) list += " and " + std::to_string(extra.size() - 5) + " more";
  throw FormatError(source + ": tensor" + (extra.size() > 1 ? "s " : " ") + list + (extra.size() > 1 ? " are" : " is") +
                    " not part of the " + model.model_type() +
                    " layout config.json describes (an architecture variant Cornerstone does not run, or a config that "
                    "does not match the weights)");
}

// Before a model allocates from a config: its parameters must be among the values the weight files
// hold, give or take kParameterSlack (a downloaded config.json with n_layer = 4000 would otherwise
// allocate gigabytes first and fail on the first missing tensor). Small mismatches pass, so that
// load_weights names the missing tensor or the wrong shape. `optional` counts parameters the files
// may lack (BERT's pooler and MLM head).
constexpr int64_t kParameterSlack = int64_t{1} << 24;  // 64 MB of f32

void check_config_fits_weights(int64_t parameters, int64_t optional, const std::string& path, const std::string& source) {
  const auto weights = io::SafeTensorsCheckpoint::open(path);
  uint64_t stored = 0;
  for (const auto& n : weights.names())
    stored = checked_add(stored, static_cast<uint64_t>(weights.info(n).shape.numel()), source + ": stored values");
  if (parameters - optional - kParameterSlack > 0 && static_cast<uint64_t>(parameters - optional - kParameterSlack) > stored)
    throw FormatError(source + ": the config describes a model of " + std::to_string(parameters) +
                      " parameters, but the weight files hold only " + std::to_string(stored) +
                      " values (a config that does not match the weights)");
}

// The model a folder's config.json describes, allocated only once its size is plausible for the weights.
std::unique_ptr<PretrainedModel> model_for_weights(const nlohmann::json& j, const std::string& path, const std::string& source) {
  const auto config = model_config_from_hf(j, source);
  check_config_fits_weights(config->num_parameters(), config->family().optional_parameters(*config), path, source);
  return config->family().create_for_loading(*config);
}

void load_weights(PretrainedModel& model, const std::string& path, const std::vector<std::string>& also_present) {
  const auto weights = io::SafeTensorsCheckpoint::open(path);
  const std::string source = weights.sharded() ? (fs::path(path) / io::kSafeTensorsIndex).string() : weights.files().front();
  check_tensors(model, weights.names(), also_present, source);
  model.load_hf_state_dict([&](const std::string& n) { return weights.contains(n) ? weights.get(n) : Tensor(); }, source);
}

}  // namespace

std::unique_ptr<PretrainedModel> load_model(const std::string& path, const std::vector<std::string>& also_present) {
  const nlohmann::json j = read_model_config(path);
  reject_quantized(j, path);
  const std::string source = (fs::path(path) / "config.json").string();
  std::unique_ptr<PretrainedModel> model = model_for_weights(j, path, source);
  load_weights(*model, path, also_present);
  return model;
}

std::string load_weights_into(PretrainedModel& model, const std::string& path) {
  const nlohmann::json j = read_model_config(path);
  reject_quantized(j, path);
  const std::string source = (fs::path(path) / "config.json").string();
  // Both configs as the model family writes them (defaults filled in), compared key by key; what
  // only training reads (dropout, the initialisation scale, the stored dtype) may differ, and an
  // image classifier's labels (transfer: a new head).
  const nlohmann::json theirs = model_config_from_hf(j, source)->hf_config(), ours = model.hf_config();
  const auto* images = model.as<ImageClassifier>();
  auto training_only = [](const std::string& k) {
    return k.find("dropout") != std::string::npos || k.find("pdrop") != std::string::npos || k == "initializer_range" ||
           k == "torch_dtype" || k == "architectures";
  };
  auto labels = [&](const std::string& k) { return images && (k == "id2label" || k == "label2id"); };
  for (const nlohmann::json* side : {&ours, &theirs})
    for (const auto& item : side->items()) {
      const std::string& key = item.key();
      if (training_only(key) || labels(key)) continue;
      const auto a = theirs.find(key), b = ours.find(key);
      if (a != theirs.end() && b != ours.end() && *a == *b) continue;
      throw ValueError("'" + path + "' is not the model the config describes: " + key + " is " +
                       (a == theirs.end() ? std::string("absent") : a->dump()) + " in " + source + " but " +
                       (b == ours.end() ? std::string("absent") : b->dump()) +
                       " in the config (continued pretraining keeps the architecture: give the config the model's shape)");
    }
  if (!images || theirs["id2label"] == ours["id2label"]) {
    load_weights(model, path, {});
    return "";
  }
  // Transfer: the backbone from the checkpoint, the head as it is (fresh for the new labels).
  const auto weights = io::SafeTensorsCheckpoint::open(path);
  const std::string file = weights.sharded() ? (fs::path(path) / io::kSafeTensorsIndex).string() : weights.files().front();
  check_tensors(model, weights.names(), {}, file);
  const std::vector<std::string> head = images->head_hf_names();
  std::map<std::string, Tensor> own;
  for (auto& [name, t] : model.hf_state_dict())
    if (std::find(head.begin(), head.end(), name) != head.end()) own[name] = t;
  model.load_hf_state_dict([&](const std::string& n) { return own.count(n) ? own[n] : weights.contains(n) ? weights.get(n) : Tensor(); },
                           file);
  return "transfer: the backbone of '" + path + "' (" + std::to_string(theirs["id2label"].size()) + " labels) with a new head for " +
         std::to_string(ours["id2label"].size()) + " labels";
}

std::unique_ptr<GPT> load_gpt(const std::string& path, const std::vector<std::string>& also_present) {
  std::unique_ptr<PretrainedModel> model = load_model(path, also_present);
  if (auto* gpt = dynamic_cast<GPT*>(model.get())) {
    model.release();
    return std::unique_ptr<GPT>(gpt);
  }
  throw UnsupportedError("'" + path + "' is a " + model->model_type() + " model, which does not predict the next token; " +
                         "this needs a decoder (gpt2, llama): generation and perplexity are for decoders, " +
                         "`cornerstone embed` and `finetune` take any model");
}

void save_model(const PretrainedModel& model, const std::string& dir) {
  io::save_safetensors((fs::path(dir) / "model.safetensors").string(), model.hf_state_dict(), {{"format", "pt"}});
  io::write_file_atomic((fs::path(dir) / "config.json").string(), model.hf_config().dump(2) + "\n");
}

void save_gpt(const GPT& model, const std::string& dir) { save_model(model, dir); }

std::string find_tokenizer(const std::string& model_dir) {
  for (const fs::path& p : {fs::path(model_dir) / "tokenizer.json", fs::path(model_dir).parent_path().parent_path() / "tokenizer.json"})
    if (fs::exists(p)) return p.string();
  return "";
}

}  // namespace cornerstone::models

#include "cornerstone/models/load.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/safetensors.h"
#include "cornerstone/models/bert.h"
#include "cornerstone/models/bert_hf.h"
#include "cornerstone/models/gpt_hf.h"

namespace cornerstone::models {

namespace fs = std::filesystem;

nlohmann::json read_model_config(const std::string& path) {
  if (!fs::is_directory(path)) throw IOError("model '" + path + "' is not a folder (expected config.json + model.safetensors)");
  const std::string cfg_path = (fs::path(path) / "config.json").string();
  const std::string weights = (fs::path(path) / "model.safetensors").string();
  if (!fs::exists(cfg_path) || !fs::exists(weights))
    throw IOError("model '" + path + "': missing " + (fs::exists(cfg_path) ? "model.safetensors" : "config.json") +
                  " (is this a pretraining run that has not saved a checkpoint yet?)");
  try {
    return nlohmann::json::parse(io::read_file(cfg_path));
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(cfg_path + ": not valid JSON: " + e.what());
  }
}

std::unique_ptr<PretrainedModel> create_model(const nlohmann::json& j, uint64_t seed, const std::string& source) {
  if (j.is_object() && j.value("model_type", "") == "bert")
    return std::make_unique<BERT>(encoder_config_from_hf(j, source), seed);
  return std::make_unique<GPT>(config_from_hf(j, source), seed);
}

namespace {
void load_weights(PretrainedModel& model, const std::string& path) {
  const std::string weights = (fs::path(path) / "model.safetensors").string();
  const auto file = io::SafeTensorsFile::open(weights);
  model.load_hf_state_dict([&](const std::string& n) { return file.contains(n) ? file.get(n) : Tensor(); }, weights);
}
}  // namespace

std::unique_ptr<PretrainedModel> load_model(const std::string& path) {
  const nlohmann::json j = read_model_config(path);
  const std::string source = (fs::path(path) / "config.json").string();
  std::unique_ptr<PretrainedModel> model;
  if (j.is_object() && j.value("model_type", "") == "bert")  // optional pooler / MLM head keep a seeded init
    model = std::make_unique<BERT>(encoder_config_from_hf(j, source), 0);
  else
    model = std::make_unique<GPT>(config_from_hf(j, source), 0, /*random_init=*/false);  // every weight is loaded
  load_weights(*model, path);
  return model;
}

std::unique_ptr<GPT> load_gpt(const std::string& path) {
  const nlohmann::json j = read_model_config(path);
  if (j.is_object() && j.value("model_type", "") == "bert")
    throw UnsupportedError("'" + path + "' is a BERT encoder; this needs a decoder (gpt2, llama): generation and " +
                           "perplexity are for decoders, `cornerstone embed` and `finetune` take encoders");
  auto model = std::make_unique<GPT>(config_from_hf(j, (fs::path(path) / "config.json").string()), 0, /*random_init=*/false);
  load_weights(*model, path);
  return model;
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

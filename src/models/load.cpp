#include "cornerstone/models/load.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/safetensors.h"
#include "cornerstone/io/safetensors_checkpoint.h"
#include "cornerstone/models/gpt_hf.h"

namespace cornerstone::models {

namespace fs = std::filesystem;

std::unique_ptr<GPT> load_gpt(const std::string& path, const std::vector<std::string>& also_present) {
  if (!fs::is_directory(path)) throw IOError("model '" + path + "' is not a folder (expected config.json + model.safetensors)");
  const std::string cfg_path = (fs::path(path) / "config.json").string();
  if (!fs::exists(cfg_path) || !io::SafeTensorsCheckpoint::exists(path))
    throw IOError("model '" + path + "': missing " +
                  (fs::exists(cfg_path) ? "model.safetensors (or model.safetensors.index.json)" : "config.json") +
                  " (is this a pretraining run that has not saved a checkpoint yet?)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(io::read_file(cfg_path));
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(cfg_path + ": not valid JSON: " + e.what());
  }
  if (j.is_object() && j.contains("quantization") && j["quantization"].is_object()) {
    const std::string f = j["quantization"].value("format", "");
    if (f == "q8_0" || f == "q4_0")
      throw FormatError("model '" + path + "' holds " + f + " weights (quantization in config.json): generate and eval read it; " +
                        "training, fine-tuning and quantize need the f32 model it was made from");
  }
  const DecoderConfig cfg = config_from_hf(j, cfg_path);
  auto model = std::make_unique<GPT>(cfg, 0, /*random_init=*/false);  // every weight is loaded below
  const auto weights = io::SafeTensorsCheckpoint::open(path);
  const std::string source = weights.sharded() ? (fs::path(path) / io::kSafeTensorsIndex).string() : weights.files().front();
  auto extra = unexpected_hf_tensors(cfg, weights.names());
  std::erase_if(extra, [&](const std::string& n) { return std::find(also_present.begin(), also_present.end(), n) != also_present.end(); });
  if (!extra.empty()) {
    std::string list;
    for (size_t i = 0; i < extra.size() && i < 5; ++i) list += (i ? ", '" : "'") + extra[i] + "'";
    if (extra.size() > 5) list += " and " + std::to_string(extra.size() - 5) + " more";
    throw FormatError(source + ": tensor" + (extra.size() > 1 ? "s " : " ") + list + (extra.size() > 1 ? " are" : " is") +
                      " not part of the " + arch_name(cfg.arch) +
                      " layout config.json describes (an architecture variant Cornerstone does not run, or a config that "
                      "does not match the weights)");
  }
  load_hf_state_dict(*model, [&](const std::string& n) { return weights.contains(n) ? weights.get(n) : Tensor(); }, source);
  return model;
}

void save_gpt(const GPT& model, const std::string& dir) {
  io::save_safetensors((fs::path(dir) / "model.safetensors").string(), hf_state_dict(model), {{"format", "pt"}});
  io::write_file_atomic((fs::path(dir) / "config.json").string(), hf_config(model.config()).dump(2) + "\n");
}

std::string find_tokenizer(const std::string& model_dir) {
  for (const fs::path& p : {fs::path(model_dir) / "tokenizer.json", fs::path(model_dir).parent_path().parent_path() / "tokenizer.json"})
    if (fs::exists(p)) return p.string();
  return "";
}

}  // namespace cornerstone::models

// The decoder family's registration: GPT-2 and Llama / Qwen / Mistral-style decoders (models::GPT).
#include <map>

#include "cornerstone/core/error.h"
#include "cornerstone/models/family.h"
#include "cornerstone/models/gpt/gpt.h"
#include "cornerstone/models/gpt/gpt_gguf.h"
#include "cornerstone/models/gpt/gpt_hf.h"

namespace cornerstone::models {

namespace {

class GptFamily : public Family {
 public:
  std::string name() const override { return "gpt"; }
  std::vector<std::string> archs() const override { return {"gpt2", "llama"}; }
  // qwen2 and mistral configs are read so that what they need beyond Llama is named (config_from_hf).
  std::vector<std::string> hf_model_types() const override { return {"gpt2", "llama", "mistral", "qwen2"}; }
  std::string pretraining_objective() const override { return "causal_lm"; }

  std::vector<std::string> presets() const override { return DecoderConfig::preset_names(); }
  std::unique_ptr<ModelConfig> preset(const std::string& name) const override {
    return std::make_unique<DecoderConfig>(DecoderConfig::preset(name));
  }
  // The batch shapes of the training-speed benchmark (bench/train.py); other keys keep the defaults.
  nlohmann::json preset_training(const std::string& name) const override {
    static const std::map<std::string, int64_t> batch = {{"char", 16}, {"gpt2-small", 4}, {"gpt2-medium", 4}, {"llama-small", 4}};
    const auto it = batch.find(name);
    return {{"batch_size", it == batch.end() ? 8 : it->second}};
  }

  std::unique_ptr<ModelConfig> config_from_json(const nlohmann::json& j, const std::string& where) const override {
    return std::make_unique<DecoderConfig>(DecoderConfig::from_json(j, DecoderConfig(), where));
  }
  std::unique_ptr<ModelConfig> config_from_hf(const nlohmann::json& j, const std::string& source) const override {
    return std::make_unique<DecoderConfig>(models::config_from_hf(j, source));
  }
  std::vector<std::string> unexpected_tensors(const ModelConfig& c, const std::vector<std::string>& present) const override {
    return unexpected_hf_tensors(dynamic_cast<const DecoderConfig&>(c), present);
  }

  std::vector<std::string> gguf_archs() const override { return {"gpt2", "llama"}; }
  std::unique_ptr<PretrainedModel> from_gguf(const io::GGUFFile& f) const override { return gpt_from_gguf(f); }
  std::vector<std::string> to_gguf(const PretrainedModel& m, DType type, const std::string& name, io::GGUFWriter& w) const override {
    return add_gpt_to_gguf(dynamic_cast<const GPT&>(m), type, name, w);
  }
};

}  // namespace

const Family& gpt_family() {
  static const GptFamily family;
  return family;
}

std::unique_ptr<PretrainedModel> DecoderConfig::create(uint64_t seed, bool random_init) const {
  return std::make_unique<GPT>(*this, seed, random_init);
}

CORNERSTONE_MODEL_FAMILY(gpt_family())

}  // namespace cornerstone::models

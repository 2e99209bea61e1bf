// The encoder family's registration: BERT (models::BERT), pretrained by masked language modelling.
#include <map>

#include "cornerstone/models/bert/bert.h"
#include "cornerstone/models/bert/bert_hf.h"
#include "cornerstone/models/family.h"

namespace cornerstone::models {

namespace {

class BertFamily : public Family {
 public:
  std::string name() const override { return "bert"; }
  std::vector<std::string> archs() const override { return {"bert"}; }
  std::string pretraining_objective() const override { return "masked_lm"; }

  std::vector<std::string> presets() const override { return EncoderConfig::preset_names(); }
  std::unique_ptr<ModelConfig> preset(const std::string& name) const override {
    return std::make_unique<EncoderConfig>(EncoderConfig::preset(name));
  }
  // BERT's recipe at 128 tokens (its first phase): AdamW (0.9, 0.999), weight decay 0.01, warm-up
  // then decay; the batch and peak learning rate by size.
  nlohmann::json preset_training(const std::string& name) const override {
    static const std::map<std::string, std::pair<int64_t, double>> recipe = {
        {"bert-tiny", {64, 1e-3}}, {"bert-mini", {32, 5e-4}}, {"bert-small", {32, 3e-4}}, {"bert-medium", {16, 2e-4}}, {"bert-base", {16, 1e-4}}};
    const auto it = recipe.find(name);
    const auto [batch, lr] = it == recipe.end() ? std::pair<int64_t, double>{32, 5e-4} : it->second;
    return {{"batch_size", batch}, {"context", 128}, {"lr", lr}, {"min_lr", lr / 10}, {"beta2", 0.999}, {"weight_decay", 0.01},
            {"warmup_steps", 100}};
  }

  std::unique_ptr<ModelConfig> config_from_json(const nlohmann::json& j, const std::string& where) const override {
    return std::make_unique<EncoderConfig>(EncoderConfig::from_json(j, EncoderConfig(), where));
  }
  std::unique_ptr<ModelConfig> config_from_hf(const nlohmann::json& j, const std::string& source) const override {
    return std::make_unique<EncoderConfig>(encoder_config_from_hf(j, source));
  }
  // The pooler and the MLM head may be absent from a checkpoint (a BertModel): they keep seeded
  // initial values rather than zeros.
  std::unique_ptr<PretrainedModel> create_for_loading(const ModelConfig& c) const override { return c.create(0, true); }
  int64_t optional_parameters(const ModelConfig& config) const override {
    const auto& c = dynamic_cast<const EncoderConfig&>(config);
    return (c.d_model * c.d_model + c.d_model) + (c.d_model * c.d_model + 3 * c.d_model + c.vocab_size);  // pooler, MLM head
  }
};

}  // namespace

const Family& bert_family() {
  static const BertFamily family;
  return family;
}

std::unique_ptr<PretrainedModel> EncoderConfig::create(uint64_t seed, bool random_init) const {
  return std::make_unique<BERT>(*this, seed, random_init);
}

CORNERSTONE_MODEL_FAMILY(bert_family())

}  // namespace cornerstone::models

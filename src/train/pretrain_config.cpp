#include "cornerstone/train/pretrain_config.h"

#include <filesystem>
#include <map>

#include "cornerstone/core/error.h"
#include "cornerstone/core/json_fields.h"
#include "cornerstone/io/atomic_file.h"

namespace cornerstone::train {

nlohmann::json TrainingConfig::to_json() const {
  return {{"batch_size", batch_size},
          {"context", context},
          {"tokens_per_step", tokens_per_step},
          {"steps", steps},
          {"lr", lr},
          {"min_lr", min_lr},
          {"warmup_steps", warmup_steps},
          {"weight_decay", weight_decay},
          {"beta1", beta1},
          {"beta2", beta2},
          {"eps", eps},
          {"grad_clip", grad_clip},
          {"eval_every", eval_every},
          {"eval_batches", eval_batches},
          {"checkpoint_every", checkpoint_every},
          {"keep_checkpoints", keep_checkpoints},
          {"seed", seed},
          {"precision", precision},
          {"checkpoint_activations", checkpoint_activations}};
}

TrainingConfig TrainingConfig::from_json(const nlohmann::json& j, const TrainingConfig& base, const std::string& where) {
  TrainingConfig c = base;
  JsonFields f(j, where);
  f.integer("batch_size", c.batch_size).integer("context", c.context).integer("tokens_per_step", c.tokens_per_step);
  f.integer("steps", c.steps).integer("warmup_steps", c.warmup_steps);
  f.number("lr", c.lr).number("min_lr", c.min_lr).number("weight_decay", c.weight_decay);
  f.number("beta1", c.beta1).number("beta2", c.beta2).number("eps", c.eps).number("grad_clip", c.grad_clip);
  f.integer("eval_every", c.eval_every).integer("eval_batches", c.eval_batches);
  f.integer("checkpoint_every", c.checkpoint_every).integer("keep_checkpoints", c.keep_checkpoints).integer("seed", c.seed);
  f.custom("precision", [&](const nlohmann::json& v) {
    if (!v.is_string()) f.fail("precision", "expected \"f32\" or \"bf16\"", v);
    c.precision = v.get<std::string>();
  });
  f.boolean("checkpoint_activations", c.checkpoint_activations);
  f.read();
  c.validate();
  return c;
}

void TrainingConfig::validate() const {
  auto need = [](bool ok, const std::string& msg) {
    if (!ok) throw ValueError("training config: " + msg);
  };
  need(batch_size > 0, "batch_size must be positive");
  need(context >= 0, "context must be >= 0 (0 means the model's context)");
  need(tokens_per_step >= 0, "tokens_per_step must be >= 0");
  need(steps > 0, "steps must be positive");
  need(lr > 0 && min_lr >= 0 && min_lr <= lr, "need 0 <= min_lr <= lr and lr > 0");
  need(warmup_steps >= 0, "warmup_steps must be >= 0");
  need(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "beta1 and beta2 must be in [0, 1)");
  need(eps > 0, "eps must be positive");
  need(grad_clip >= 0, "grad_clip must be >= 0");
  need(eval_every >= 0 && eval_batches > 0, "eval_every must be >= 0 and eval_batches positive");
  need(checkpoint_every >= 0 && keep_checkpoints > 0, "checkpoint_every must be >= 0 and keep_checkpoints positive");
  need(precision == "f32" || precision == "bf16", "precision must be \"f32\" or \"bf16\", got \"" + precision + "\"");
}

int64_t PretrainConfig::model_context() const { return is_encoder() ? encoder().context : decoder().context; }

int64_t PretrainConfig::sequence_length() const { return training.context > 0 ? training.context : model_context(); }

nlohmann::json PretrainConfig::to_json() const {
  nlohmann::json j = {{"model", is_encoder() ? encoder().to_json() : decoder().to_json()}, {"training", training.to_json()}};
  if (is_encoder()) j["masking"] = masking.to_json();
  return j;
}

PretrainConfig PretrainConfig::from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw ValueError(where + ": expected a JSON object with \"model\" and \"training\"");
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "model" && it.key() != "training" && it.key() != "masking")
      throw ValueError(where + ": unknown key '" + it.key() + "' (known: model, training, masking)");
  if (!j.contains("model")) throw ValueError(where + ": missing key 'model' (a preset name or an object)");
  PretrainConfig c;
  const auto& m = j["model"];
  const bool encoder = m.is_string() ? models::EncoderConfig::is_preset(m.get<std::string>())
                                     : m.is_object() && m.value("arch", "") == "bert";
  if (encoder)
    c.model = m.is_string() ? models::EncoderConfig::preset(m.get<std::string>())
                            : models::EncoderConfig::from_json(m, models::EncoderConfig(), where + ".model");
  else
    c.model = m.is_string() ? models::DecoderConfig::preset(m.get<std::string>())
                            : models::DecoderConfig::from_json(m, models::DecoderConfig(), where + ".model");
  if (j.contains("training")) c.training = TrainingConfig::from_json(j["training"], TrainingConfig(), where + ".training");
  if (j.contains("masking")) {
    if (!encoder) throw ValueError(where + ".masking: masking is for encoders (\"arch\": \"bert\"); a decoder predicts the next token");
    c.masking = MaskingConfig::from_json(j["masking"], where + ".masking");
  }
  if (c.training.context > c.model_context())
    throw ValueError(where + ".training.context: " + std::to_string(c.training.context) + " exceeds the model's context of " +
                     std::to_string(c.model_context()) + (encoder ? " (max_position_embeddings)" : ""));
  return c;
}

namespace {
nlohmann::json bert_training(int64_t batch, double lr) {
  return {{"batch_size", batch}, {"context", 128}, {"lr", lr}, {"min_lr", lr / 10}, {"beta2", 0.999}, {"weight_decay", 0.01},
          {"warmup_steps", 100}};
}

// Presets: the model presets with the batch shapes of the training-speed benchmark.
const std::map<std::string, nlohmann::json>& presets() {
  static const std::map<std::string, nlohmann::json> p = {
      {"gpt2-tiny", {{"model", "gpt2-tiny"}, {"training", {{"batch_size", 8}}}}},
      {"tiny", {{"model", "gpt2-tiny"}, {"training", {{"batch_size", 8}}}}},
      {"char", {{"model", "char"}, {"training", {{"batch_size", 16}}}}},
      {"gpt2-small", {{"model", "gpt2-small"}, {"training", {{"batch_size", 4}, {"lr", 6e-4}}}}},
      {"llama-tiny", {{"model", "llama-tiny"}, {"training", {{"batch_size", 8}}}}},
      {"llama-small", {{"model", "llama-small"}, {"training", {{"batch_size", 4}}}}},
      // Encoders: BERT's recipe at 128 tokens (its first phase): AdamW (0.9, 0.999), weight decay
      // 0.01, warm-up then decay, 15% of tokens masked.
      {"bert-tiny", {{"model", "bert-tiny"}, {"training", bert_training(64, 1e-3)}}},
      {"bert-mini", {{"model", "bert-mini"}, {"training", bert_training(32, 5e-4)}}},
      {"bert-small", {{"model", "bert-small"}, {"training", bert_training(32, 3e-4)}}},
      {"bert-base", {{"model", "bert-base"}, {"training", bert_training(16, 1e-4)}}},
  };
  return p;
}
}  // namespace

std::vector<std::string> PretrainConfig::preset_names() {
  std::vector<std::string> out;
  for (const auto& [k, v] : presets()) out.push_back(k);
  return out;
}

PretrainConfig PretrainConfig::load(const std::string& name_or_path) {
  if (auto it = presets().find(name_or_path); it != presets().end()) return from_json(it->second, "preset " + name_or_path);
  if (!std::filesystem::exists(name_or_path)) {
    std::string known;
    for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
    throw ValueError("--config: '" + name_or_path + "' is neither a preset (" + known + ") nor a file");
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(io::read_file(name_or_path));
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(name_or_path + ": not valid JSON: " + e.what());
  }
  return from_json(j, name_or_path);
}

}  // namespace cornerstone::train

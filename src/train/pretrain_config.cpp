#include "cornerstone/train/pretrain_config.h"

#include <filesystem>

#include "cornerstone/core/error.h"
#include "cornerstone/core/json_fields.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/train/objective.h"

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

int64_t PretrainConfig::sequence_length() const { return training.context > 0 ? training.context : model_context(); }

nlohmann::json PretrainConfig::to_json() const {
  nlohmann::json j = {{"model", model->to_json()}, {"training", training.to_json()}, {"objective", objective}};
  const ObjectiveType& type = objective_type(objective, "objective");
  if (!type.section.empty()) j[type.section] = objective_options;
  return j;
}

PretrainConfig PretrainConfig::from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw ValueError(where + ": expected a JSON object with \"model\" and \"training\"");
  if (!j.contains("model")) throw ValueError(where + ": missing key 'model' (a preset name or an object)");
  PretrainConfig c;
  c.model = models::model_config_from_json(j["model"], where + ".model");
  const std::string family_objective = c.model->family().pretraining_objective();
  if (j.contains("objective") && !j["objective"].is_string())
    throw ValueError(where + ".objective: expected an objective name, got " + j["objective"].dump());
  c.objective = j.value("objective", family_objective);
  const ObjectiveType& type = objective_type(c.objective, where + ".objective");
  // Known keys: model, training, objective and the objective's own section. Another objective's
  // section is a mistake worth naming (masking options on a decoder).
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    if (key == "model" || key == "training" || key == "objective" || (!type.section.empty() && key == type.section)) continue;
    for (const std::string& other : objective_names())
      if (objective_type(other, where).section == key)
        throw ValueError(where + "." + key + ": " + key + " is for the " + other + " objective (encoders: \"arch\": \"bert\"); a " +
                         c.model->model_type() + " model pretrains by " + c.objective);
    std::string known = "model, training, objective";
    if (!type.section.empty()) known += ", " + type.section;
    throw ValueError(where + ": unknown key '" + key + "' (known: " + known + ")");
  }
  if (j.contains("training")) c.training = TrainingConfig::from_json(j["training"], TrainingConfig(), where + ".training");
  if (!type.section.empty())
    c.objective_options = type.options(j.contains(type.section) ? j[type.section] : nlohmann::json(), where + "." + type.section);
  if (c.training.context > c.model_context())
    throw ValueError(where + ".training.context: " + std::to_string(c.training.context) + " exceeds the model's context of " +
                     std::to_string(c.model_context()) + " (its max_position_embeddings)");
  return c;
}

// Presets: every family's model presets, each with its family's training recipe.
std::vector<std::string> PretrainConfig::preset_names() { return models::model_preset_names(); }

PretrainConfig PretrainConfig::load(const std::string& name_or_path) {
  if (const models::Family* f = models::family_of_preset(name_or_path))
    return from_json({{"model", name_or_path}, {"training", f->preset_training(name_or_path)}}, "preset " + name_or_path);
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

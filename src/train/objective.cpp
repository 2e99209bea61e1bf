#include "cornerstone/train/objective.h"

#include <map>

#include "cornerstone/core/error.h"
#include "cornerstone/core/tensor.h"
#include "cornerstone/train/pretrain_config.h"

namespace cornerstone::train {

namespace {
std::map<std::string, ObjectiveType>& registry() {
  static std::map<std::string, ObjectiveType> r;
  return r;
}
}  // namespace

Validation Objective::validate(const ValidationRequest& request) {
  double total = 0;
  for (int64_t i = 0; i < request.batches; ++i) total += loss(eval_batch(i, request.batches), nullptr).item();
  Validation v;
  v.primary = total / static_cast<double>(request.batches);
  v.metrics = {{"val_loss", v.primary}};
  return v;
}

ObjectiveRegistration::ObjectiveRegistration(ObjectiveType type) {
  const std::string name = type.name;
  registry()[name] = std::move(type);
}

std::vector<std::string> objective_names() {
  std::vector<std::string> out;
  for (const auto& [name, t] : registry()) out.push_back(name);
  return out;
}

const ObjectiveType& objective_type(const std::string& name, const std::string& where) {
  if (auto it = registry().find(name); it != registry().end()) return it->second;
  std::string known;
  for (const auto& n : objective_names()) known += (known.empty() ? "" : ", ") + n;
  throw ValueError(where + ": unknown objective '" + name + "' (known: " + known + ")");
}

std::unique_ptr<Objective> make_objective(const ObjectiveInputs& in) {
  const int64_t model_vocab = in.model.config().vocabulary_size();
  if (in.train && in.train->vocab_size() > static_cast<uint64_t>(model_vocab))
    throw ValueError("tokenizer/model vocabulary mismatch: the data in '" + in.data_dir + "' was tokenized with " +
                     std::to_string(in.train->vocab_size()) + " tokens but the model has vocab_size " + std::to_string(model_vocab) +
                     " (set model.vocab_size in the config)");
  return objective_type(in.config.objective, "objective").make(in);
}

}  // namespace cornerstone::train

// causal_lm: next-token prediction on random windows of the token stream (GPT-style pretraining).
#include <optional>

#include "cornerstone/core/error.h"
#include "cornerstone/train/batch_sampler.h"
#include "cornerstone/train/objective.h"
#include "cornerstone/train/pretrain_config.h"

namespace cornerstone::train {

namespace {

class CausalLMObjective : public Objective {
 public:
  CausalLMObjective(const ObjectiveInputs& in, const models::CausalLM& lm)
      : T_(in.config.sequence_length()),
        lm_(lm),
        flops_(in.model.config().train_flops_per_token(T_, 1.0)),
        sampler_(*in.train, in.config.training.batch_size, T_, in.config.training.seed, in.shard) {
    if (in.val && in.val->size() > static_cast<uint64_t>(T_)) val_.emplace(*in.val, in.config.training.batch_size, T_, in.config.training.seed, in.shard);
  }
  data::Batch sample(int64_t step, int64_t micro) const override { return sampler_.sample(step, micro); }
  bool has_validation() const override { return val_.has_value(); }
  data::Batch eval_batch(int64_t i, int64_t n) const override { return val_->eval_batch(i, n); }
  Tensor loss(const data::Batch& b, Rng* dropout_rng) override { return lm_.lm_loss(b, dropout_rng); }
  double flops_per_token() const override { return flops_; }
  std::string describe() const override { return "causal LM"; }

 private:
  int64_t T_;
  const models::CausalLM& lm_;
  double flops_;
  BatchSampler sampler_;
  std::optional<BatchSampler> val_;
};

ObjectiveType causal_lm() {
  ObjectiveType t;
  t.name = "causal_lm";
  t.options = [](const nlohmann::json&, const std::string&) { return nlohmann::json(); };
  t.make = [](const ObjectiveInputs& in) -> std::unique_ptr<Objective> {
    const auto* lm = in.model.as<models::CausalLM>();
    if (!lm)
      throw ValueError("causal_lm pretraining needs a model that predicts the next token; a " + in.model.model_type() +
                       " model does not (its family pretrains by " + in.model.family().pretraining_objective() + ")");
    return std::make_unique<CausalLMObjective>(in, *lm);
  };
  return t;
}

}  // namespace

CORNERSTONE_OBJECTIVE(causal_lm())

}  // namespace cornerstone::train

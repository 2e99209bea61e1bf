// masked_lm: BERT's masked language modelling (train/masked_lm.h), config section "masking".
//
// Batches mask different numbers of tokens, so the loss counts by masked tokens (loss_items): a
// step's loss is the mean over every masked token of its micro-batches and, under data
// parallelism, of every process's share, exactly as one batch of them all gives. Validation
// likewise, one number on every process.
#include <filesystem>
#include <optional>

#include "cornerstone/core/error.h"
#include "cornerstone/dist/process_group.h"
#include "cornerstone/train/masked_lm.h"
#include "cornerstone/train/objective.h"
#include "cornerstone/train/pretrain_config.h"

namespace cornerstone::train {

namespace {

class MaskedLMObjective : public Objective {
 public:
  MaskedLMObjective(const ObjectiveInputs& in, const models::MaskedLM& mlm, const MaskingConfig& masking, const MaskVocabulary& vocab)
      : world_(in.shard.world),
        T_(in.config.sequence_length()),
        masking_(masking),
        mlm_(mlm),
        flops_(in.model.config().train_flops_per_token(T_, masking.probability)),
        sampler_(*in.train, in.config.training.batch_size, T_, in.config.training.seed, masking, vocab, in.shard) {
    if (in.val && in.val->size() > static_cast<uint64_t>(T_))
      val_.emplace(*in.val, in.config.training.batch_size, T_, in.config.training.seed, masking, vocab, in.shard);
  }
  data::Batch sample(int64_t step, int64_t micro) const override { return sampler_.sample(step, micro); }
  bool has_validation() const override { return val_.has_value(); }
  data::Batch eval_batch(int64_t i, int64_t n) const override { return val_->eval_batch(i, n); }
  Tensor loss(const data::Batch& b, Rng* dropout_rng) override { return mlm_.mlm_loss(b, dropout_rng); }
  int64_t loss_items(const data::Batch& b) const override { return masked_tokens(b); }
  Validation validate(const ValidationRequest& request) override {
    if (world_ == 1) return Objective::validate(request);
    // Each batch's mean over every process's masked tokens, then the mean over the batches.
    double total = 0;
    for (int64_t i = 0; i < request.batches; ++i) {
      const data::Batch b = eval_batch(i, request.batches);
      double sums[2] = {0, static_cast<double>(masked_tokens(b))};
      sums[0] = loss(b, nullptr).item() * sums[1];
      dist::ProcessGroup::world().all_reduce_sum(sums, 2);
      total += sums[1] > 0 ? sums[0] / sums[1] : 0.0;
    }
    Validation v;
    v.primary = total / static_cast<double>(request.batches);  // the same on every process
    v.metrics = {{"val_loss", v.primary}};
    return v;
  }
  double flops_per_token() const override { return flops_; }
  std::string describe() const override {
    return "masked LM (" + std::to_string(static_cast<int>(masking_.probability * 100 + 0.5f)) + "% of tokens" +
           (masking_.whole_word ? ", whole words" : "") + (masking_.sentence_pairs ? ", sentence pairs" : "") + ")";
  }

 private:
  static int64_t masked_tokens(const data::Batch& b) {
    const Tensor& t = b.get(data::batch_keys::targets, "masked LM");
    int64_t n = 0;
    for (int32_t x : t.contiguous().to_int_vector()) n += x >= 0;
    return n;
  }

  int64_t world_;
  int64_t T_;
  MaskingConfig masking_;
  const models::MaskedLM& mlm_;
  double flops_;
  MaskedLMSampler sampler_;
  std::optional<MaskedLMSampler> val_;
};

ObjectiveType masked_lm() {
  ObjectiveType t;
  t.name = "masked_lm";
  t.section = "masking";
  t.options = [](const nlohmann::json& section, const std::string& where) {
    return MaskingConfig::from_json(section.is_null() ? nlohmann::json::object() : section, where).to_json();
  };
  t.make = [](const ObjectiveInputs& in) -> std::unique_ptr<Objective> {
    const auto* mlm = in.model.as<models::MaskedLM>();
    if (!mlm)
      throw ValueError("masked_lm pretraining needs a model with a masked-LM head; a " + in.model.model_type() +
                       " model has none (its family pretrains by " + in.model.family().pretraining_objective() + ")");
    const std::string tok_path = (std::filesystem::path(in.data_dir) / "tokenizer.json").string();
    if (!std::filesystem::exists(tok_path))
      throw ValueError("masked-LM pretraining reads [CLS], [SEP] and [MASK] from '" + tok_path +
                       "', which is missing (prepare the data with `cornerstone prepare`)");
    const MaskingConfig masking = MaskingConfig::from_json(in.config.objective_options, "masking");
    return std::make_unique<MaskedLMObjective>(in, *mlm, masking,
                                               MaskVocabulary::from_tokenizer(tokenize::Tokenizer::load(tok_path), tok_path));
  };
  return t;
}

}  // namespace

CORNERSTONE_OBJECTIVE(masked_lm())

}  // namespace cornerstone::train

#include "cornerstone/train/objective.h"

#include <filesystem>

#include "cornerstone/core/error.h"
#include "cornerstone/models/bert.h"
#include "cornerstone/models/gpt.h"
#include "cornerstone/train/masked_lm.h"

namespace cornerstone::train {

namespace {

class CausalLM : public Objective {
 public:
  CausalLM(const PretrainConfig& c, const data::TokenDataset& train, const data::TokenDataset* val)
      : T_(c.sequence_length()),
        model_(c.decoder(), c.training.seed),
        sampler_(train, c.training.batch_size, T_, c.training.seed) {
    if (val && val->size() > static_cast<uint64_t>(T_)) val_.emplace(*val, c.training.batch_size, T_, c.training.seed);
  }
  models::PretrainedModel& model() override { return model_; }
  Batch sample(int64_t step, int64_t micro) const override { return sampler_.sample(step, micro); }
  bool has_validation() const override { return val_.has_value(); }
  Batch eval_batch(int64_t i, int64_t n) const override { return val_->eval_batch(i, n); }
  Tensor loss(const Batch& b, Rng* dropout_rng) override { return model_.loss(b.inputs, b.targets, dropout_rng); }
  double flops_per_token() const override { return model_.config().train_flops_per_token(T_); }
  std::string describe() const override { return "causal LM"; }

 private:
  int64_t T_;
  models::GPT model_;
  BatchSampler sampler_;
  std::optional<BatchSampler> val_;
};

class MaskedLM : public Objective {
 public:
  MaskedLM(const PretrainConfig& c, const data::TokenDataset& train, const data::TokenDataset* val, const MaskVocabulary& vocab)
      : T_(c.sequence_length()),
        masking_(c.masking),
        model_(c.encoder(), c.training.seed),
        sampler_(train, c.training.batch_size, T_, c.training.seed, c.masking, vocab) {
    if (val && val->size() > static_cast<uint64_t>(T_))
      val_.emplace(*val, c.training.batch_size, T_, c.training.seed, c.masking, vocab);
  }
  models::PretrainedModel& model() override { return model_; }
  Batch sample(int64_t step, int64_t micro) const override { return sampler_.sample(step, micro); }
  bool has_validation() const override { return val_.has_value(); }
  Batch eval_batch(int64_t i, int64_t n) const override { return val_->eval_batch(i, n); }
  Tensor loss(const Batch& b, Rng* dropout_rng) override {
    return model_.mlm_loss(b.inputs, b.segments, b.targets, dropout_rng);
  }
  double flops_per_token() const override { return model_.config().train_flops_per_token(T_, masking_.probability); }
  std::string describe() const override {
    return "masked LM (" + std::to_string(static_cast<int>(masking_.probability * 100 + 0.5f)) + "% of tokens" +
           (masking_.whole_word ? ", whole words" : "") + (masking_.sentence_pairs ? ", sentence pairs" : "") + ")";
  }

 private:
  int64_t T_;
  MaskingConfig masking_;
  models::BERT model_;
  MaskedLMSampler sampler_;
  std::optional<MaskedLMSampler> val_;
};

}  // namespace

std::unique_ptr<Objective> make_objective(const PretrainConfig& c, const data::TokenDataset& train, const data::TokenDataset* val,
                                          const std::string& data_dir) {
  const int64_t model_vocab = c.is_encoder() ? c.encoder().vocab_size : c.decoder().vocab_size;
  if (train.vocab_size() > static_cast<uint64_t>(model_vocab))
    throw ValueError("tokenizer/model vocabulary mismatch: the data in '" + data_dir + "' was tokenized with " +
                     std::to_string(train.vocab_size()) + " tokens but the model has vocab_size " + std::to_string(model_vocab) +
                     " (set model.vocab_size in the config)");
  if (!c.is_encoder()) return std::make_unique<CausalLM>(c, train, val);
  const std::string tok_path = (std::filesystem::path(data_dir) / "tokenizer.json").string();
  if (!std::filesystem::exists(tok_path))
    throw ValueError("masked-LM pretraining reads [CLS], [SEP] and [MASK] from '" + tok_path +
                     "', which is missing (prepare the data with `cornerstone prepare`)");
  return std::make_unique<MaskedLM>(c, train, val, MaskVocabulary::from_tokenizer(tokenize::Tokenizer::load(tok_path), tok_path));
}

}  // namespace cornerstone::train

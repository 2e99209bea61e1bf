// The pretraining objective: what the one pretraining loop (train/trainer.h) trains, on which
// batches and with which loss. The loop itself knows nothing of model families.
//
//   decoder (gpt2, llama)  causal LM: windows of T + 1 tokens, next-token cross-entropy (GPT::loss)
//   encoder (bert)         masked LM: [CLS] A [SEP] B [SEP] rows, 15% masked, cross-entropy on the
//                          masked positions only (train/masked_lm.h, BERT::mlm_loss)
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "cornerstone/data/token_shards.h"
#include "cornerstone/models/pretrained.h"
#include "cornerstone/train/batch_sampler.h"
#include "cornerstone/train/pretrain_config.h"

namespace cornerstone::train {

class Objective {
 public:
  virtual ~Objective() = default;
  virtual models::PretrainedModel& model() = 0;
  // Micro-batch `micro` of step `step`: a pure function of the seed (exact resume).
  virtual Batch sample(int64_t step, int64_t micro) const = 0;
  // Fixed evaluation batches from the validation split; none when there is no validation split.
  virtual bool has_validation() const = 0;
  virtual Batch eval_batch(int64_t i, int64_t num_batches) const = 0;
  // Mean loss of a batch (a (1,) tensor to back-propagate).
  virtual Tensor loss(const Batch& batch, Rng* dropout_rng) = 0;
  // Matmul FLOPs per input token of a training step (the MFU numerator).
  virtual double flops_per_token() const = 0;
  // "causal LM" / "masked LM (15%, whole words, sentence pairs)"
  virtual std::string describe() const = 0;
};

// The objective of `config`'s model family, with a freshly initialised model (from
// training.seed), drawing B x T batches from `train` (and `val`, may be null). `data_dir` holds the
// tokenizer.json that the masked LM needs for its special tokens. Throws ValueError when the data
// and the model do not fit together (vocabulary sizes, missing special tokens).
std::unique_ptr<Objective> make_objective(const PretrainConfig& config, const data::TokenDataset& train,
                                          const data::TokenDataset* val, const std::string& data_dir);

}  // namespace cornerstone::train

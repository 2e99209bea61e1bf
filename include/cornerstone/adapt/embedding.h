// Sentence embeddings: one vector per text from a pretrained (or contrastively fine-tuned) model.
//
//   mean pooling  the mean of the final hidden states of the text's real tokens ([CLS] and [SEP]
//                 included, as sentence-transformers pools)
//   cls pooling   the final hidden state of [CLS] (encoders)
//
// Contrastive fine-tuning (`cornerstone finetune --task contrastive`) trains them for retrieval
// with in-batch negatives: for a batch of (query, positive) pairs, query i's positive is document
// i and every other positive in the batch is a negative (InfoNCE, van den Oord et al. 2018;
// "MultipleNegativesRankingLoss" in sentence-transformers):
//
//   loss = mean_i  -log softmax_j( cos(q_i, p_j) / temperature )[i]
//
//   auto m = cornerstone::load("runs/bert-mini");                 // cornerstone.h
//   Tensor v = m.embed({"first text", "second text"}, Pooling::Mean, /*normalize=*/true);  // (2, C)
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cornerstone/adapt/model_inputs.h"
#include "cornerstone/adapt/task_model.h"
#include "cornerstone/models/pretrained.h"

namespace cornerstone::adapt {

// hidden (B, T, C), lengths (B) -> (B, C), differentiable.
Tensor pool(const Tensor& hidden, const Tensor& lengths, Pooling pooling);
// x (N, C) -> x / ||x|| per row, differentiable.
Tensor l2_normalize(const Tensor& x);
// The pooled embeddings of a padded batch, (B, C).
Tensor embed_batch(const models::PretrainedModel& model, const PaddedBatch& batch, Pooling pooling, Rng* dropout_rng = nullptr);
// InfoNCE with in-batch negatives: queries (B, C) against documents (B + M, C), where document i
// is query i's positive for i < B and the M rows after them are hard negatives (every query's)
// -> mean loss (1,).
Tensor info_nce(const Tensor& queries, const Tensor& documents, float temperature);
// Embeddings of many texts without gradients, one row per text in order: (N, C). Texts are
// batched by length (less padding). The model should be in eval mode.
Tensor embed_texts(const models::PretrainedModel& model, const InputFormat& inputs, const std::vector<std::string>& texts,
                   Pooling pooling, bool normalize, int64_t batch_size = 32);

}  // namespace cornerstone::adapt

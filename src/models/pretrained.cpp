#include "cornerstone/models/pretrained.h"

#include <numeric>

#include "cornerstone/core/error.h"
#include "cornerstone/ops/elementwise.h"
#include "cornerstone/ops/embedding.h"
#include "cornerstone/ops/linear.h"
#include "cornerstone/ops/loss.h"
#include "cornerstone/ops/norm.h"

namespace cornerstone::models {

nn::TensorParallelPlan PretrainedModel::shard_tensor_parallel(dist::ProcessGroup&) {
  throw UnsupportedError("--tensor-parallel: a " + model_type() + " model cannot be split over processes yet (decoders, gpt2 and llama, can)");
}

std::vector<std::string> PretrainedModel::capabilities() const {
  std::vector<std::string> out;
  if (as<CausalLM>()) out.push_back("causal-lm");
  if (as<MaskedLM>()) out.push_back("masked-lm");
  if (as<ImageTextModel>()) out.push_back("image-text");
  if (as<ImageClassifier>()) {
    out.push_back("image-classifier");
    return out;
  }
  out.push_back("embeddings");  // every text model's hidden states pool into sentence embeddings
  return out;
}

Tensor ImageClassifier::image_loss(const data::Batch& batch, Rng* dropout_rng) const {
  const Tensor& labels = batch.get(data::batch_keys::labels, "image classifier");
  check_dtype(labels, DType::I32, "image classifier", "labels");
  const Tensor logits = image_logits(batch.get(data::batch_keys::pixels, "image classifier"), dropout_rng);
  if (labels.ndim() != 1 || labels.size(0) != logits.size(0))
    throw ShapeError("image classifier: labels " + labels.shape().str() + " must be (" + std::to_string(logits.size(0)) + ")");
  const int64_t K = logits.size(1);
  for (int32_t l : labels.to_int_vector())
    if (l < 0 || l >= K)
      throw ValueError("image classifier: label " + std::to_string(l) + " is outside the model's " + std::to_string(K) + " classes");
  return ops::cross_entropy(logits, labels);
}

Tensor ImageTextModel::similarity_logits(const Tensor& image_embeds, const Tensor& text_embeds) const {
  return ops::scale_by_exp(ops::linear(ops::l2_normalize(image_embeds), ops::l2_normalize(text_embeds)), logit_scale(), kMaxLogitScale);
}

Tensor ImageTextModel::contrastive_loss(const data::Batch& batch, Rng* dropout_rng) const {
  const Tensor image = ops::l2_normalize(image_embeds(batch.get(data::batch_keys::pixels, "image-text model"), dropout_rng));
  const Tensor text = ops::l2_normalize(text_embeds(batch, dropout_rng));
  return contrastive_loss(image, text, 0, image.size(0));
}

Tensor ImageTextModel::contrastive_loss(const Tensor& image, const Tensor& text, int64_t first, int64_t n) const {
  const int64_t B = image.size(0);
  if (text.size(0) != B)
    throw ShapeError("image-text model: " + std::to_string(B) + " images but " + std::to_string(text.size(0)) + " captions");
  if (first < 0 || n < 1 || first + n > B)
    throw ShapeError("image-text model: rows [" + std::to_string(first) + ", " + std::to_string(first + n) + ") of a batch of " + std::to_string(B));
  std::vector<int32_t> diagonal(static_cast<size_t>(n));
  std::iota(diagonal.begin(), diagonal.end(), static_cast<int32_t>(first));
  const Tensor targets = Tensor::from_data({n}, diagonal);
  const Tensor image_rows = n == B ? image : image.slice(0, first, first + n), text_rows = n == B ? text : text.slice(0, first, first + n);
  // Both directions from their own product (the transpose of a B x B matrix costs nothing to recompute).
  const Tensor per_image = ops::scale_by_exp(ops::linear(image_rows, text), logit_scale(), kMaxLogitScale);
  const Tensor per_text = ops::scale_by_exp(ops::linear(text_rows, image), logit_scale(), kMaxLogitScale);
  const Tensor loss = ops::scale(ops::add(ops::cross_entropy(per_image, targets), ops::cross_entropy(per_text, targets)), 0.5f);
  return n == B ? loss : ops::scale(loss, static_cast<float>(n) / static_cast<float>(B));
}

Tensor last_token_states(const Tensor& hidden, const Tensor& lengths, const char* op) {
  check_ndim(hidden, 3, op, "hidden");
  const int64_t B = hidden.size(0), T = hidden.size(1), C = hidden.size(2);
  const std::vector<int32_t> len = checked_lengths(B, T, lengths, op);
  // Row of each sequence's last real token in the flattened (B T, C) states.
  std::vector<int32_t> last(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) last[static_cast<size_t>(b)] = static_cast<int32_t>(b * T + len[static_cast<size_t>(b)] - 1);
  return ops::embedding(hidden.contiguous().view({B * T, C}), Tensor::from_data({B}, last));
}

std::vector<int32_t> checked_lengths(int64_t B, int64_t T, const Tensor& lengths, const char* op) {
  if (!lengths.defined()) return std::vector<int32_t>(static_cast<size_t>(B), static_cast<int32_t>(T));
  check_dtype(lengths, DType::I32, op, "lengths");
  if (lengths.numel() != B)
    throw ShapeError(std::string(op) + ": " + std::to_string(lengths.numel()) + " lengths for " + std::to_string(B) + " sequences");
  std::vector<int32_t> out = lengths.to_int_vector();
  for (int64_t b = 0; b < B; ++b)
    if (out[static_cast<size_t>(b)] < 1 || out[static_cast<size_t>(b)] > T)
      throw ValueError(std::string(op) + ": sequence " + std::to_string(b) + " has length " + std::to_string(out[static_cast<size_t>(b)]) +
                       ", outside [1, " + std::to_string(T) + "]");
  return out;
}

}  // namespace cornerstone::models

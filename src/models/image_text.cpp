#include "cornerstone/models/image_text.h"

#include <algorithm>

#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/core/error.h"
#include "cornerstone/ops/linear.h"
#include "cornerstone/ops/norm.h"

namespace cornerstone::models {

namespace {
// Row blocks (n_i, P) stacked into (sum n_i, P) (no gradients).
Tensor stack_rows(const std::vector<Tensor>& parts, int64_t P) {
  int64_t N = 0;
  for (const Tensor& t : parts) N += t.size(0);
  Tensor out = Tensor::empty({N, P});
  float* dst = out.data<float>();
  for (const Tensor& t : parts) {
    const Tensor c = t.contiguous();
    dst = std::copy(c.data<float>(), c.data<float>() + c.numel(), dst);
  }
  return out;
}
}  // namespace

std::vector<int32_t> caption_ids(const tokenize::Tokenizer& tok, const std::string& text, int64_t eos, int64_t context) {
  std::vector<int32_t> ids = tok.encode(text);
  if (static_cast<int64_t>(ids.size()) > context - 1) ids.resize(static_cast<size_t>(context - 1));
  ids.push_back(static_cast<int32_t>(eos));
  return ids;
}

data::Batch caption_batch(const std::vector<std::vector<int32_t>>& captions, int64_t eos) {
  const int64_t B = static_cast<int64_t>(captions.size());
  int64_t T = 1;
  for (const auto& c : captions) T = std::max<int64_t>(T, static_cast<int64_t>(c.size()));
  std::vector<int32_t> ids(static_cast<size_t>(B * T), static_cast<int32_t>(eos)), lengths(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    const auto& c = captions[static_cast<size_t>(b)];
    std::copy(c.begin(), c.end(), ids.begin() + b * T);
    lengths[static_cast<size_t>(b)] = static_cast<int32_t>(c.size());
  }
  data::Batch out;
  out.set(data::batch_keys::ids, Tensor::from_data({B, T}, ids));
  out.set(data::batch_keys::lengths, Tensor::from_data({B}, lengths));
  return out;
}

void check_caption_tokenizer(const ImageTextModel& model, const PretrainedModel& base, const tokenize::Tokenizer& tok, const std::string& where) {
  if (tok.vocab_size() > base.config().vocabulary_size())
    throw ValueError(where + ": the tokenizer has " + std::to_string(tok.vocab_size()) + " tokens, the model's text tower holds " +
                     std::to_string(base.config().vocabulary_size()) + " (raise \"vocab_size\" in the model config)");
  const auto eos = tok.eos_id();
  if (!eos)
    throw ValueError(where + ": the tokenizer has no end-of-text token; captions end with one (the model's eos_token_id " +
                     std::to_string(model.eos_token_id()) + ")");
  if (*eos != model.eos_token_id())
    throw ValueError(where + ": the tokenizer's end-of-text token is id " + std::to_string(*eos) + ", the model pools at id " +
                     std::to_string(model.eos_token_id()) + " (set \"eos_token_id\" in the model config)");
}

Tensor embed_image_set(const ImageTextModel& model, const data::ImageSet& set, int64_t batch) {
  if (batch <= 0) throw ValueError("embed_image_set: the batch size must be positive");
  autograd::NoGradGuard no_grad;
  const data::ImageTransform transform = model.image_input().transform();
  std::vector<Tensor> parts;
  for (int64_t s = 0; s < set.size(); s += batch) {
    std::vector<int64_t> rows;
    for (int64_t r = s; r < std::min(set.size(), s + batch); ++r) rows.push_back(r);
    parts.push_back(ops::l2_normalize(model.image_embeds(data::image_batch(set, rows, transform)[data::batch_keys::pixels])));
  }
  return stack_rows(parts, parts.empty() ? 0 : parts[0].size(1));
}

Tensor embed_captions(const ImageTextModel& model, const std::vector<std::vector<int32_t>>& captions, int64_t batch) {
  if (batch <= 0) throw ValueError("embed_captions: the batch size must be positive");
  autograd::NoGradGuard no_grad;
  std::vector<Tensor> parts;
  for (size_t s = 0; s < captions.size(); s += static_cast<size_t>(batch)) {
    const std::vector<std::vector<int32_t>> part(captions.begin() + static_cast<std::ptrdiff_t>(s),
                                                 captions.begin() + static_cast<std::ptrdiff_t>(std::min(captions.size(), s + static_cast<size_t>(batch))));
    parts.push_back(ops::l2_normalize(model.text_embeds(caption_batch(part, model.eos_token_id()))));
  }
  return stack_rows(parts, parts.empty() ? 0 : parts[0].size(1));
}

ImageTextRecall image_text_recall(const Tensor& image_embeds, const Tensor& text_embeds) {
  check_ndim(image_embeds, 2, "image_text_recall", "image_embeds");
  if (image_embeds.shape() != text_embeds.shape())
    throw ShapeError("image_text_recall: " + image_embeds.shape().str() + " image embeddings but " + text_embeds.shape().str() + " text embeddings");
  autograd::NoGradGuard no_grad;
  const int64_t N = image_embeds.size(0);
  const std::vector<float> sim = ops::linear(image_embeds, text_embeds).to_vector();  // (images, texts)
  ImageTextRecall r;
  r.pairs = N;
  const int64_t ks[3] = {1, 5, 10};
  for (int64_t i = 0; i < N; ++i) {
    // Rank of the true partner: how many others score at least as high.
    int64_t rank_text = 0, rank_image = 0;
    const float own = sim[static_cast<size_t>(i * N + i)];
    for (int64_t j = 0; j < N; ++j) {
      if (j == i) continue;
      rank_text += sim[static_cast<size_t>(i * N + j)] >= own;
      rank_image += sim[static_cast<size_t>(j * N + i)] >= own;
    }
    for (int k = 0; k < 3; ++k) {
      r.image_to_text[k] += rank_text < ks[k];
      r.text_to_image[k] += rank_image < ks[k];
    }
  }
  for (int k = 0; k < 3; ++k) r.image_to_text[k] /= static_cast<double>(N), r.text_to_image[k] /= static_cast<double>(N);
  return r;
}

nlohmann::json ImageTextRecall::to_json() const {
  return {{"pairs", pairs},
          {"image_to_text_recall@1", image_to_text[0]},
          {"image_to_text_recall@5", image_to_text[1]},
          {"image_to_text_recall@10", image_to_text[2]},
          {"text_to_image_recall@1", text_to_image[0]},
          {"text_to_image_recall@5", text_to_image[1]},
          {"text_to_image_recall@10", text_to_image[2]}};
}

}  // namespace cornerstone::models

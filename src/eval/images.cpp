#include "cornerstone/eval/images.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/core/error.h"
#include "cornerstone/kernels/softmax.h"

namespace cornerstone::eval {

TaskMetrics evaluate_images(const models::ImageClassifier& model, const data::ImageSet& set, int64_t batch) {
  const models::ImageSpec& spec = model.image_spec();
  if (static_cast<int64_t>(set.classes.size()) != spec.num_labels)
    throw ValueError(set.source + ": " + std::to_string(set.classes.size()) + " classes, the model has " + std::to_string(spec.num_labels));
  if (batch < 1) throw ValueError("evaluation batch must be positive");
  autograd::NoGradGuard no_grad;
  std::vector<int32_t> truth, predicted;
  double loss = 0;
  for (int64_t begin = 0; begin < set.size(); begin += batch) {
    const int64_t n = std::min(batch, set.size() - begin);
    std::vector<int64_t> rows(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) rows[static_cast<size_t>(i)] = begin + i;
    const data::Batch b = data::image_batch(set, rows, spec.transform());
    const Tensor logits = model.image_logits(b[data::batch_keys::pixels]);
    loss += model.image_loss(b).item() * static_cast<double>(n);
    const std::vector<float> l = logits.to_vector();
    const int64_t K = logits.size(1);
    for (int64_t i = 0; i < n; ++i) {
      const float* row = l.data() + i * K;
      predicted.push_back(static_cast<int32_t>(std::max_element(row, row + K) - row));
    }
    const std::vector<int32_t> y = b[data::batch_keys::labels].to_int_vector();
    truth.insert(truth.end(), y.begin(), y.end());
  }
  std::vector<std::string> labels;
  for (int64_t i = 0; i < spec.num_labels; ++i) labels.push_back(spec.labels.empty() ? set.classes[static_cast<size_t>(i)] : spec.label(i));
  return compute_metrics(labels, truth, predicted, loss / static_cast<double>(std::max<int64_t>(1, set.size())));
}

std::string fill_prompt(const std::string& prompt_template, const std::string& label) {
  const size_t at = prompt_template.find("{}");
  if (at == std::string::npos) throw ValueError("--template '" + prompt_template + "' has no {} where the label goes");
  return prompt_template.substr(0, at) + label + prompt_template.substr(at + 2);
}

Tensor zero_shot_probabilities(const models::ImageTextModel& model, const tokenize::Tokenizer& tok, const Tensor& image_embeds,
                               const std::vector<std::string>& labels, const std::string& prompt_template, int64_t context) {
  if (labels.size() < 2) throw ValueError("zero-shot classification needs at least 2 labels, got " + std::to_string(labels.size()));
  autograd::NoGradGuard no_grad;
  std::vector<std::vector<int32_t>> prompts;
  for (const std::string& l : labels) prompts.push_back(models::caption_ids(tok, fill_prompt(prompt_template, l), model.eos_token_id(), context));
  const Tensor text = models::embed_captions(model, prompts);
  const int64_t N = image_embeds.size(0), L = static_cast<int64_t>(labels.size());
  const Tensor logits = model.similarity_logits(image_embeds, text).contiguous();
  Tensor p = Tensor::empty({N, L});
  kernels::softmax_forward(logits.data<float>(), N, L, p.data<float>());
  return p;
}

ImageTextEvaluation evaluate_image_text(const models::ImageTextModel& model, const tokenize::Tokenizer& tok, const data::ImageSet& set,
                                        const std::string& prompt_template, int64_t context, int64_t batch) {
  if (set.texts.empty()) throw ValueError(set.source + ": evaluating an image-text model needs a \"text\" caption on every line");
  ImageTextEvaluation e;
  e.prompt_template = prompt_template;
  const Tensor images = models::embed_image_set(model, set, batch);
  std::vector<std::vector<int32_t>> captions;
  for (const std::string& t : set.texts) captions.push_back(models::caption_ids(tok, t, model.eos_token_id(), context));
  e.recall = models::image_text_recall(images, models::embed_captions(model, captions, batch));
  if (set.classes.size() >= 2) {  // labelled lines of two or more classes
    e.zero_shot = true;
    const Tensor probs = zero_shot_probabilities(model, tok, images, set.classes, prompt_template, context);
    const std::vector<float> p = probs.to_vector();
    const int64_t L = probs.size(1);
    std::vector<int32_t> predicted;
    double loss = 0;
    std::vector<int64_t> counts(set.classes.size(), 0);
    for (int64_t i = 0; i < set.size(); ++i) {
      const float* row = p.data() + i * L;
      predicted.push_back(static_cast<int32_t>(std::max_element(row, row + L) - row));
      const int32_t y = set.labels[static_cast<size_t>(i)];
      loss -= std::log(std::max(row[y], 1e-30f));
      ++counts[static_cast<size_t>(y)];
    }
    e.classes = compute_metrics(set.classes, set.labels, predicted, loss / static_cast<double>(set.size()));
    e.majority_rate = static_cast<double>(*std::max_element(counts.begin(), counts.end())) / static_cast<double>(set.size());
  }
  return e;
}

nlohmann::json ImageTextEvaluation::to_json() const {
  nlohmann::json j = {{"metric", "image-text"}, {"retrieval", recall.to_json()}};
  if (zero_shot) {
    j["zero_shot"] = classes.to_json();
    j["zero_shot"]["majority_rate"] = majority_rate;
    j["zero_shot"]["template"] = prompt_template;
  }
  return j;
}

std::string ImageTextEvaluation::table() const {
  char s[512];
  const double chance5 = recall.pairs ? std::min(1.0, 5.0 / static_cast<double>(recall.pairs)) : 0;
  std::snprintf(s, sizeof s,
                "image-text retrieval among %lld pairs (recall@5 by chance: %.3f)\n"
                "  direction        recall@1  recall@5  recall@10\n"
                "  image -> text    %8.3f  %8.3f  %9.3f\n"
                "  text -> image    %8.3f  %8.3f  %9.3f\n",
                static_cast<long long>(recall.pairs), chance5, recall.image_to_text[0], recall.image_to_text[1], recall.image_to_text[2],
                recall.text_to_image[0], recall.text_to_image[1], recall.text_to_image[2]);
  std::string out = s;
  if (zero_shot) {
    std::snprintf(s, sizeof s, "zero-shot classification into %zu classes (prompt \"%s\"): accuracy %.3f, macro-F1 %.3f; majority class %.3f\n",
                  classes.labels.size(), prompt_template.c_str(), classes.accuracy, classes.macro_f1, majority_rate);
    out += s;
    out += classes.table();
  }
  return out;
}

}  // namespace cornerstone::eval

// image_classification: supervised pretraining of an image classifier on labelled images
// (data/images.h: an IDX folder such as Fashion-MNIST's, class folders, or JSONL lists).
//
// Batches walk epochs of the train split in an order shuffled per epoch from the seed: batch k
// (= step x accumulation + micro) holds positions [k B, (k + 1) B) of the endless sequence of epoch
// permutations, so every batch is a pure function of (seed, step, micro) and a resumed run draws
// what a straight run would. Augmentation (config section "augment": {"crop_padding": 2,
// "flip": true}) draws from its own counter-based stream per batch. Validation: loss and accuracy
// on the first eval_batches x B images of the val split (the test split when there is no val).
#include <algorithm>
#include <optional>

#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/json_fields.h"
#include "cornerstone/data/images.h"
#include "cornerstone/train/objective.h"
#include "cornerstone/train/pretrain_config.h"
#include "image_epochs.h"

namespace cornerstone::train {

namespace {

class ImageClassificationObjective : public Objective {
 public:
  ImageClassificationObjective(const ObjectiveInputs& in, models::ImageClassifier& classifier, const AugmentConfig& augment)
      : classifier_(classifier),
        spec_(classifier.image_spec()),
        B_(in.config.training.batch_size),
        accumulation_(in.accumulation),
        seed_(in.config.training.seed),
        flops_(in.model.config().train_flops_per_token(0, 1.0)),
        shard_(in.shard),
        train_(data::open_image_split(in.data_dir, "train", spec_.shape(), spec_.labels)),
        order_(train_.size(), seed_) {
    check_classes(train_);
    // A model without label names takes the training data's classes: the val split (which may
    // lack a rare class) and later evaluations then map names to the same ids.
    if (spec_.labels.empty()) classifier.set_label_names(train_.classes);
    if (data::is_image_source(in.data_dir, "val")) {
      val_ = data::open_image_split(in.data_dir, "val", spec_.shape(), spec_.labels);
      check_classes(*val_);
    }
    transform_ = spec_.transform();
    transform_.crop_padding = augment.crop_padding;
    transform_.flip = augment.flip;
    augment_ = augment.any();
  }

  data::Batch sample(int64_t step, int64_t micro) const override {
    const int64_t k = step * accumulation_ + micro;
    const std::vector<int64_t> rows = order_.rows(k, B_, shard_);
    // Up to 3 draws per row (crop offsets, flip), from this process's first row of the global batch.
    Rng rng(seed_ ^ 0xa96e7a7e5eedull, 3 * EpochOrder::first_row(k, B_, shard_));
    return data::image_batch(train_, rows, transform_, augment_ ? &rng : nullptr);
  }
  bool has_validation() const override { return val_.has_value(); }
  // Evaluation batch i of all processes holds world x B consecutive val images; this process takes
  // its B of them (the loop averages the processes' validations).
  data::Batch eval_batch(int64_t i, int64_t) const override {
    const int64_t begin = static_cast<int64_t>(EpochOrder::first_row(i, B_, shard_)) % val_->size();
    const int64_t n = std::min(B_, val_->size() - begin);
    std::vector<int64_t> rows(static_cast<size_t>(n));
    for (int64_t r = 0; r < n; ++r) rows[static_cast<size_t>(r)] = begin + r;
    return data::image_batch(*val_, rows, spec_.transform());
  }
  Validation validate(const ValidationRequest& request) override {
    double loss = 0;
    int64_t correct = 0, seen = 0;
    for (int64_t i = 0; i < request.batches && i * B_ * shard_.world < val_->size(); ++i) {
      const data::Batch b = eval_batch(i, request.batches);
      const Tensor logits = classifier_.image_logits(b[data::batch_keys::pixels]);
      const int64_t n = logits.size(0), K = logits.size(1);
      loss += classifier_.image_loss(b).item() * static_cast<double>(n);
      const std::vector<float> l = logits.to_vector();
      const std::vector<int32_t> y = b[data::batch_keys::labels].to_int_vector();
      for (int64_t r = 0; r < n; ++r) {
        const float* row = l.data() + r * K;
        correct += std::max_element(row, row + K) - row == y[static_cast<size_t>(r)];
      }
      seen += n;
    }
    Validation v;
    v.primary = loss / static_cast<double>(seen);
    v.metrics = {{"val_loss", v.primary}, {"val_accuracy", static_cast<double>(correct) / static_cast<double>(seen)}};
    return v;
  }
  Tensor loss(const data::Batch& b, Rng* dropout_rng) override { return classifier_.image_loss(b, dropout_rng); }
  double flops_per_token() const override { return flops_; }
  std::string input_unit() const override { return "images"; }
  std::string describe() const override {
    return "image classification (" + std::to_string(train_.size()) + " images, " + std::to_string(train_.classes.size()) + " classes)";
  }

 private:
  void check_classes(const data::ImageSet& set) const {
    if (static_cast<int64_t>(set.classes.size()) != spec_.num_labels)
      throw ValueError(set.source + ": " + std::to_string(set.classes.size()) + " classes, but the model has num_labels " +
                       std::to_string(spec_.num_labels) + " (set \"num_labels\" or \"labels\" in the model config)");
  }
  const models::ImageClassifier& classifier_;
  const models::ImageSpec& spec_;
  int64_t B_, accumulation_;
  uint64_t seed_;
  double flops_;
  Shard shard_;
  data::ImageSet train_;
  EpochOrder order_;
  std::optional<data::ImageSet> val_;
  data::ImageTransform transform_;
  bool augment_ = false;
};

ObjectiveType image_classification() {
  ObjectiveType t;
  t.name = "image_classification";
  t.section = "augment";
  t.token_data = false;
  t.options = [](const nlohmann::json& section, const std::string& where) { return AugmentConfig::from_json(section, where).to_json(); };
  t.make = [](const ObjectiveInputs& in) -> std::unique_ptr<Objective> {
    auto* classifier = dynamic_cast<models::ImageClassifier*>(&in.model);
    if (!classifier)
      throw ValueError("image_classification needs an image classifier; a " + in.model.model_type() + " model is not one (its family pretrains by " +
                       in.model.family().pretraining_objective() + ")");
    return std::make_unique<ImageClassificationObjective>(in, *classifier, AugmentConfig::from_json(in.config.objective_options, "augment"));
  };
  return t;
}

}  // namespace

CORNERSTONE_OBJECTIVE(image_classification())

}  // namespace cornerstone::train

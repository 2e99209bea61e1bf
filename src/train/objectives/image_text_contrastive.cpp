// image_text_contrastive: CLIP pretraining on image-caption pairs (JSONL lines {"image", "text"},
// data/images.h; `cornerstone dataset emoji` writes such a folder; "text" may list several captions
// of the image, of which each batch draws one per image). Each batch holds B pairs; every
// other caption of the batch is an image's negative and every other image a caption's
// (models::ImageTextModel::contrastive_loss). Captions are tokenized once with the data folder's
// tokenizer.json (copied into the run, so the model folder carries it) and end with its
// end-of-text token. Batches walk shuffled epochs of the train split (image_epochs.h), optionally
// augmented by the config's "augment" section. Validation: the loss on batches of the val split
// and retrieval recall@1/5/10 in both directions among all its pairs.
//
// Data parallel (mpirun): every process draws the whole global batch's rows and captions as one
// process would, embeds its own contiguous share of them, and all-gathers the embeddings (the
// gather's backward sums the gathered rows' gradients over the processes and keeps its own, as
// OpenCLIP's gather_with_grad). Each process's loss is its rows' share of the batch's loss (its
// images against all captions, its captions against all images, over the batch size), so the
// processes' losses and gradients add up to one process's (loss_sums_over_processes): N
// processes x B pairs train as one process with N B pairs.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>

#include "cornerstone/autograd/graph.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/parallel.h"
#include "cornerstone/data/images.h"
#include "cornerstone/dist/process_group.h"
#include "cornerstone/models/image_text.h"
#include "cornerstone/ops/norm.h"
#include "cornerstone/tokenize/tokenizer.h"
#include "cornerstone/train/objective.h"
#include "cornerstone/train/pretrain_config.h"
#include "image_epochs.h"

namespace cornerstone::train {

namespace {

namespace fs = std::filesystem;

struct Pairs {
  data::ImageSet images;
  std::vector<std::vector<int32_t>> captions;                // the first caption of each image
  std::vector<std::vector<std::vector<int32_t>>> variants;  // every caption of each image
};

class ImageTextObjective : public Objective {
 public:
  ImageTextObjective(const ObjectiveInputs& in, models::ImageTextModel& model, const AugmentConfig& augment)
      : model_(model),
        B_(in.config.training.batch_size),
        accumulation_(in.accumulation),
        seed_(in.config.training.seed),
        shard_(in.shard) {
    const fs::path tok_path = fs::path(in.data_dir) / "tokenizer.json";
    if (!fs::exists(tok_path))
      throw ValueError("'" + in.data_dir + "' has no tokenizer.json for the captions (`cornerstone dataset emoji` writes one; or train one with " +
                       "`cornerstone tokenizer train` on the captions)");
    const tokenize::Tokenizer tok = tokenize::Tokenizer::load(tok_path.string());
    models::check_caption_tokenizer(model, in.model, tok, tok_path.string());
    train_ = read_pairs(in.data_dir, "train", tok, in.model.config().max_positions());
    if (train_.images.size() < 2) throw ValueError(train_.images.source + ": contrastive training needs at least 2 pairs");
    if (shard_.world > 1 && train_.images.size() < global_batch())
      throw ValueError(train_.images.source + ": " + std::to_string(train_.images.size()) + " pairs cannot fill a global batch of " +
                       std::to_string(shard_.world) + " processes x " + std::to_string(B_) + " distinct pairs; lower batch_size");
    order_.emplace(train_.images.size(), seed_);
    // FLOPs per pair at the training captions' mean length.
    double tokens = 0;
    for (const auto& c : train_.captions) tokens += static_cast<double>(c.size());
    flops_ = in.model.config().train_flops_per_token(std::max<int64_t>(1, std::llround(tokens / static_cast<double>(train_.captions.size()))), 1.0);
    if (data::is_image_source(in.data_dir, "val")) val_ = read_pairs(in.data_dir, "val", tok, in.model.config().max_positions());
    transform_ = model.image_input().transform();
    transform_.crop_padding = augment.crop_padding;
    transform_.flip = augment.flip;
    augment_ = augment.any();
  }

  data::Batch sample(int64_t step, int64_t micro) const override {
    const int64_t k = step * accumulation_ + micro, G = global_batch();
    // The global batch as one process with all G rows draws it: distinct pairs (a pair twice
    // would be its own negative; repeats across an epoch boundary are dropped), each image's
    // caption drawn in order, then each row's augmentation from 3 counters of its own.
    std::vector<int64_t> unique;
    for (int64_t r : order_->rows(k, G))
      if (std::find(unique.begin(), unique.end(), r) == unique.end()) unique.push_back(r);
    Rng rng(seed_ ^ 0xc11b7e5eedull, static_cast<uint64_t>(k) * static_cast<uint64_t>(3 * G));
    std::vector<std::vector<int32_t>> captions;
    for (int64_t r : unique) {
      const auto& all = train_.variants[static_cast<size_t>(r)];
      captions.push_back(all.size() > 1 ? all[rng.below(all.size())] : all.front());
    }
    // This process's share: a contiguous run of the global batch.
    const Range mine = share(static_cast<int64_t>(unique.size()), shard_.rank);
    Rng augment(rng.seed(), rng.offset() + 3 * static_cast<uint64_t>(mine.begin));
    data::Batch b = models::caption_batch({captions.begin() + mine.begin, captions.begin() + mine.end}, model_.eos_token_id());
    const std::vector<int64_t> rows(unique.begin() + mine.begin, unique.begin() + mine.end);
    b.set(data::batch_keys::pixels, data::image_batch(train_.images, rows, transform_, augment_ ? &augment : nullptr)[data::batch_keys::pixels]);
    if (shard_.world > 1) b.set(kGlobalRows, Tensor::from_data({1}, std::vector<int32_t>{static_cast<int32_t>(unique.size())}));
    return b;
  }
  bool has_validation() const override { return val_.has_value(); }
  data::Batch eval_batch(int64_t i, int64_t) const override {
    // Whole global batches on every process (validation is computed redundantly, as one process would).
    const int64_t G = global_batch(), N = val_->images.size(), begin = (i * G) % N, n = std::min(G, N - begin);
    std::vector<int64_t> rows(static_cast<size_t>(n));
    for (int64_t r = 0; r < n; ++r) rows[static_cast<size_t>(r)] = begin + r;
    return pair_batch(*val_, rows);
  }
  Validation validate(const ValidationRequest& request) override {
    double loss = 0;
    int64_t batches = 0;
    for (int64_t i = 0; i < request.batches && i * global_batch() < val_->images.size(); ++i) {
      const data::Batch b = eval_batch(i, request.batches);
      if (b[data::batch_keys::lengths].numel() < 2) break;  // one pair has no negative
      loss += model_.contrastive_loss(b).item(), ++batches;
    }
    const models::ImageTextRecall r =
        models::image_text_recall(models::embed_image_set(model_, val_->images, global_batch()),
                                  models::embed_captions(model_, val_->captions, global_batch()));
    Validation v;
    v.primary = batches ? loss / static_cast<double>(batches) : std::nan("");
    v.metrics = {{"val_loss", v.primary}, {"val_i2t_recall@5", r.image_to_text[1]}, {"val_t2i_recall@5", r.text_to_image[1]}};
    char s[160];
    std::snprintf(s, sizeof s, "val %.4f | recall@5 i->t %.3f t->i %.3f (%lld pairs)", v.primary, r.image_to_text[1], r.text_to_image[1],
                  static_cast<long long>(r.pairs));
    v.summary = s;
    return v;
  }
  Tensor loss(const data::Batch& b, Rng* dropout_rng) override {
    if (shard_.world == 1) return model_.contrastive_loss(b, dropout_rng);
    const Tensor image = ops::l2_normalize(model_.image_embeds(b.get(data::batch_keys::pixels, "image_text_contrastive"), dropout_rng));
    const Tensor text = ops::l2_normalize(model_.text_embeds(b, dropout_rng));
    const int64_t U = b.get(kGlobalRows, "image_text_contrastive").data<int32_t>()[0];
    const Range mine = share(U, shard_.rank);
    return model_.contrastive_loss(gathered(image, U), gathered(text, U), mine.begin, mine.end - mine.begin);
  }
  bool loss_sums_over_processes() const override { return shard_.world > 1; }
  double flops_per_token() const override { return flops_; }
  std::string input_unit() const override { return "pairs"; }
  std::string describe() const override {
    return "image-text contrastive (" + std::to_string(train_.images.size()) + " image-caption pairs" +
           (val_ ? ", " + std::to_string(val_->images.size()) + " to validate" : std::string()) + ")";
  }

 private:
  Pairs read_pairs(const std::string& dir, const std::string& split, const tokenize::Tokenizer& tok, int64_t context) const {
    Pairs p;
    p.images = data::open_image_split(dir, split, model_.image_input().shape());
    if (p.images.texts.empty())
      throw ValueError(p.images.source + ": image-text training needs a \"text\" caption on every line ({\"image\": ..., \"text\": ...})");
    for (const auto& all : p.images.captions) {
      std::vector<std::vector<int32_t>> ids;
      for (const std::string& t : all) ids.push_back(models::caption_ids(tok, t, model_.eos_token_id(), context));
      p.captions.push_back(ids.front());
      p.variants.push_back(std::move(ids));
    }
    return p;
  }
  // Validation rows with their first captions, unaugmented.
  data::Batch pair_batch(const Pairs& p, const std::vector<int64_t>& rows) const {
    std::vector<std::vector<int32_t>> captions;
    for (int64_t r : rows) captions.push_back(p.captions[static_cast<size_t>(r)]);
    data::Batch b = models::caption_batch(captions, model_.eos_token_id());
    b.set(data::batch_keys::pixels, data::image_batch(p.images, rows, model_.image_input().transform())[data::batch_keys::pixels]);
    return b;
  }

  static constexpr std::string_view kGlobalRows = "global_rows";  // (1) i32: the global batch's pairs (data parallel)

  int64_t global_batch() const { return shard_.world * B_; }
  // Process `rank`'s rows of a global batch of U pairs.
  Range share(int64_t U, int64_t rank) const { return split_range(U, static_cast<int>(shard_.world), static_cast<int>(rank)); }
  // The (U, P) embeddings of the whole global batch, every process's rows in rank order. Every
  // process's loss reads all of them, so the backward all-reduces their gradient and passes this
  // process's rows on to its `local` (n, P).
  Tensor gathered(const Tensor& local, int64_t U) const {
    const int64_t P = local.size(1);
    std::vector<int64_t> counts;
    for (int64_t r = 0; r < shard_.world; ++r) counts.push_back((share(U, r).end - share(U, r).begin) * P);
    const Range mine = share(U, shard_.rank);
    std::vector<float> all(static_cast<size_t>(U * P));
    const Tensor lc = local.detach().contiguous();
    std::copy(lc.data<float>(), lc.data<float>() + lc.numel(), all.begin() + mine.begin * P);
    dist::ProcessGroup::world().all_gather(all.data(), counts);
    Tensor out = Tensor::from_data({U, P}, all);
    if (autograd::needs_grad({local}))
      autograd::record("all_gather_rows", {local}, out, [mine, P](const Tensor& g, autograd::GradSink& sink) {
        std::vector<float> sum = g.contiguous().to_vector();
        dist::ProcessGroup::world().all_reduce_sum(sum.data(), sum.size());
        auto dx = sink.buffer(0);
        const int64_t n = (mine.end - mine.begin) * P;
        for (int64_t i = 0; i < n; ++i) dx.data()[i] = (dx.fresh ? 0.0f : dx.data()[i]) + sum[static_cast<size_t>(mine.begin * P + i)];
      });
    return out;
  }

  models::ImageTextModel& model_;
  int64_t B_, accumulation_;
  uint64_t seed_;
  Shard shard_;
  double flops_ = 0;
  Pairs train_;
  std::optional<EpochOrder> order_;
  std::optional<Pairs> val_;
  data::ImageTransform transform_;
  bool augment_ = false;
};

ObjectiveType image_text_contrastive() {
  ObjectiveType t;
  t.name = "image_text_contrastive";
  t.section = "augment";
  t.token_data = false;
  t.options = [](const nlohmann::json& section, const std::string& where) { return AugmentConfig::from_json(section, where).to_json(); };
  t.make = [](const ObjectiveInputs& in) -> std::unique_ptr<Objective> {
    auto* model = dynamic_cast<models::ImageTextModel*>(&in.model);
    if (!model)
      throw ValueError("image_text_contrastive needs an image-text model (clip); a " + in.model.model_type() + " model is not one (its family pretrains by " +
                       in.model.family().pretraining_objective() + ")");
    return std::make_unique<ImageTextObjective>(in, *model, AugmentConfig::from_json(in.config.objective_options, "augment"));
  };
  return t;
}

}  // namespace

CORNERSTONE_OBJECTIVE(image_text_contrastive())

}  // namespace cornerstone::train

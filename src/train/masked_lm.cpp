#include "cornerstone/train/masked_lm.h"

#include <functional>
#include <map>
#include <optional>

#include "cornerstone/core/error.h"
#include "cornerstone/core/json_fields.h"
#include "cornerstone/core/rng.h"

namespace cornerstone::train {

namespace {

// Salts that separate the random streams of one seed: training masks, evaluation masks.
constexpr uint64_t kTrainMaskSalt = 0x6d61736b5f747261ull;  // "mask_tra"
constexpr uint64_t kEvalMaskSalt = 0x6d61736b5f65766dull;   // "mask_evm"

// A 64-bit key for one row's stream, from (seed, salt, row counter).
uint64_t row_key(uint64_t seed, uint64_t salt, uint64_t counter) {
  const auto x = philox4x32(seed ^ salt, counter);
  return (static_cast<uint64_t>(x[0]) << 32) | x[1];
}

}  // namespace

// ---- config -------------------------------------------------------------------------------------

void MaskingConfig::validate() const {
  auto need = [](bool ok, const std::string& msg) {
    if (!ok) throw ValueError("masking config: " + msg);
  };
  need(probability > 0 && probability < 1, "probability must be in (0, 1)");
  need(mask_fraction >= 0 && random_fraction >= 0 && mask_fraction + random_fraction <= 1,
       "mask_fraction and random_fraction must be >= 0 and sum to at most 1");
}

nlohmann::json MaskingConfig::to_json() const {
  return {{"probability", probability},
          {"mask_fraction", mask_fraction},
          {"random_fraction", random_fraction},
          {"whole_word", whole_word},
          {"sentence_pairs", sentence_pairs}};
}

MaskingConfig MaskingConfig::from_json(const nlohmann::json& j, const std::string& where) {
  MaskingConfig c;
  JsonFields f(j, where);
  f.number("probability", c.probability).number("mask_fraction", c.mask_fraction).number("random_fraction", c.random_fraction);
  f.boolean("whole_word", c.whole_word).boolean("sentence_pairs", c.sentence_pairs);
  f.read();
  c.validate();
  return c;
}

MaskVocabulary MaskVocabulary::from_tokenizer(const tokenize::Tokenizer& tok, const std::string& where) {
  MaskVocabulary v;
  auto need = [&](std::optional<int32_t> id, const char* name) {
    if (!id)
      throw ValueError(where + ": masked-LM pretraining needs a " + std::string(name) +
                       " token, and this tokenizer has none (use a WordPiece vocabulary such as BERT's vocab.txt)");
    return *id;
  };
  v.cls = need(tok.cls_id(), "[CLS]");
  v.sep = need(tok.sep_id(), "[SEP]");
  v.mask = need(tok.mask_id(), "[MASK]");
  v.size = tok.vocab_size();
  v.special.assign(static_cast<size_t>(v.size), 0);
  v.continues.assign(static_cast<size_t>(v.size), 0);
  for (int32_t id = 0; id < v.size; ++id) {
    v.special[static_cast<size_t>(id)] = tok.is_special(id);
    v.continues[static_cast<size_t>(id)] = tok.id_to_token(id).rfind("##", 0) == 0;
  }
  for (int32_t id : {v.cls, v.sep, v.mask}) v.special[static_cast<size_t>(id)] = 1;
  return v;
}

// ---- masking ------------------------------------------------------------------------------------

int64_t mask_row(std::span<int32_t> ids, std::span<int32_t> targets, const MaskingConfig& cfg, const MaskVocabulary& vocab,
                 uint64_t key) {
  const auto is = [](const std::vector<uint8_t>& flags, int32_t id) {
    return id >= 0 && static_cast<size_t>(id) < flags.size() && flags[static_cast<size_t>(id)];
  };
  int64_t selected = 0;
  bool in_word = false, word_selected = false;
  for (size_t t = 0; t < ids.size(); ++t) {
    targets[t] = -1;
    const int32_t id = ids[t];
    if (is(vocab.special, id)) {
      in_word = false;
      continue;
    }
    // Position t's own draws: selection, replacement kind, random token.
    const auto r = philox4x32(key, t);
    const bool starts_word = !cfg.whole_word || !in_word || !is(vocab.continues, id);
    in_word = true;
    if (starts_word) word_selected = uniform_from_bits(r[0]) < cfg.probability;
    if (!word_selected) continue;
    targets[t] = id;
    ++selected;
    const float u = uniform_from_bits(r[1]);
    if (u < cfg.mask_fraction)
      ids[t] = vocab.mask;
    else if (u < cfg.mask_fraction + cfg.random_fraction)
      ids[t] = static_cast<int32_t>(r[2] % static_cast<uint64_t>(vocab.size));
  }
  return selected;
}

// ---- sampler ------------------------------------------------------------------------------------

namespace {
int64_t text_length(int64_t seq_len, bool pairs) {
  const int64_t specials = pairs ? 3 : 2, minimum = pairs ? 2 : 1;
  if (seq_len - specials < minimum)
    throw ValueError("masked LM: a sequence of " + std::to_string(seq_len) + " tokens leaves no room for text beside [CLS] and [SEP] (need at least " +
                     std::to_string(specials + minimum) + ")");
  return seq_len - specials;
}
}  // namespace

MaskedLMSampler::MaskedLMSampler(const data::TokenDataset& data, int64_t batch, int64_t seq_len, uint64_t seed, MaskingConfig cfg,
                                 MaskVocabulary vocab, Shard shard)
    : data_(data),
      windows_(data, batch, text_length(seq_len, cfg.sentence_pairs) - 1, seed, shard),  // windows of text_len_ tokens
      batch_(batch),
      seq_len_(seq_len),
      text_len_(text_length(seq_len, cfg.sentence_pairs)),
      first_row_(shard.first_row(batch)),
      seed_(seed),
      cfg_(cfg),
      vocab_(std::move(vocab)) {
  cfg_.validate();
  if (data.vocab_size() > static_cast<uint64_t>(vocab_.size))
    throw ValueError("masked LM: the data has a vocabulary of " + std::to_string(data.vocab_size()) + " tokens, its tokenizer " +
                     std::to_string(vocab_.size));
}

data::Batch MaskedLMSampler::rows(const std::vector<uint64_t>& starts, uint64_t salt, int64_t step, int64_t micro,
                                  int64_t first_row) const {
  const int64_t B = batch_, T = seq_len_, n = text_len_;
  Tensor inputs = Tensor::empty({B, T}, DType::I32), targets = Tensor::empty({B, T}, DType::I32),
         segments = Tensor::zeros({B, T}, DType::I32);
  std::vector<int32_t> text(static_cast<size_t>(n));
  for (int64_t r = 0; r < B; ++r) {
    // The row's stream: training rows by (step, micro, global row), evaluation rows by (batch i, row).
    const uint64_t row = static_cast<uint64_t>(first_row + r);
    const uint64_t counter = ((static_cast<uint64_t>(step) << 16 | static_cast<uint64_t>(micro)) << 16) | row;
    const uint64_t key = row_key(seed_, salt, counter);
    data_.read(starts[static_cast<size_t>(r)], static_cast<uint64_t>(n), text.data());
    int32_t* ids = inputs.data<int32_t>() + r * T;
    int32_t* seg = segments.data<int32_t>() + r * T;
    int64_t k = 0;
    ids[k++] = vocab_.cls;
    if (cfg_.sentence_pairs) {
      // Segment A is text[0, split), B the rest, split uniform in [1, n - 1] (counter T: the
      // positions use 0 .. T - 1).
      const int64_t split = 1 + static_cast<int64_t>(philox4x32(key, static_cast<uint64_t>(T))[3] % static_cast<uint64_t>(n - 1));
      for (int64_t i = 0; i < split; ++i) ids[k++] = text[static_cast<size_t>(i)];
      ids[k++] = vocab_.sep;
      for (int64_t i = split; i < n; ++i) seg[k] = 1, ids[k++] = text[static_cast<size_t>(i)];
      seg[k] = 1;
    } else {
      for (int64_t i = 0; i < n; ++i) ids[k++] = text[static_cast<size_t>(i)];
    }
    ids[k++] = vocab_.sep;
    mask_row({ids, static_cast<size_t>(T)}, {targets.data<int32_t>() + r * T, static_cast<size_t>(T)}, cfg_, vocab_, key);
  }
  data::Batch b;
  b.set(data::batch_keys::ids, inputs).set(data::batch_keys::targets, targets);
  if (cfg_.sentence_pairs) b.set(data::batch_keys::segments, segments);  // else all zero: the model's default
  return b;
}

data::Batch MaskedLMSampler::sample(int64_t step, int64_t micro) const {
  return rows(windows_.starts(step, micro), kTrainMaskSalt, step, micro, first_row_);
}

data::Batch MaskedLMSampler::eval_batch(int64_t i, int64_t num_batches) const {
  return rows(windows_.eval_starts(i, num_batches), kEvalMaskSalt, i, 0, first_row_);
}

}  // namespace cornerstone::train

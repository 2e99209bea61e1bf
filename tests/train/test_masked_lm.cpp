// Masked-LM batches: the 15% / 80-10-10 statistics, whole-word masking, the [CLS] A [SEP] B [SEP]
// layout with segment ids, determinism (a pure function of seed and step), the special tokens of
// BERT's real vocabulary, and the encoder side of the pretraining config.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cli.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/data/token_shards.h"
#include "cornerstone/models/bert/encoder_config.h"
#include "cornerstone/tokenize/tokenizer.h"
#include "cornerstone/train/masked_lm.h"
#include "cornerstone/train/pretrain_config.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;
namespace fs = std::filesystem;

namespace {

// A synthetic vocabulary of 1000 ids: 0..4 special ([PAD], [CLS] 1, [SEP] 2, [MASK] 3, [UNK]);
// ids 500.. are "##" continuation pieces.
train::MaskVocabulary synthetic_vocab() {
  train::MaskVocabulary v;
  v.cls = 1, v.sep = 2, v.mask = 3, v.size = 1000;
  v.special.assign(1000, 0);
  v.continues.assign(1000, 0);
  for (int i = 0; i < 5; ++i) v.special[i] = 1;
  for (int i = 500; i < 1000; ++i) v.continues[i] = 1;
  return v;
}

std::vector<int32_t> random_row(size_t n, uint64_t seed, int32_t lo, int32_t hi) {
  Rng rng(seed);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = lo + static_cast<int32_t>(rng.below(static_cast<uint64_t>(hi - lo)));
  return v;
}

}  // namespace

TEST(MaskedLM, SelectsFifteenPercentAndReplacesThemEightyTenTen) {
  const auto vocab = synthetic_vocab();
  const train::MaskingConfig cfg;
  int64_t tokens = 0, selected = 0, masked = 0, randomized = 0, kept = 0;
  for (uint64_t row = 0; row < 2000; ++row) {
    std::vector<int32_t> ids = random_row(128, row, 5, 500);
    ids[0] = vocab.cls, ids[60] = vocab.sep, ids[127] = vocab.sep;
    const std::vector<int32_t> original = ids;
    std::vector<int32_t> targets(128);
    const int64_t n = train::mask_row(ids, targets, cfg, vocab, /*key=*/row * 7919);
    int64_t count = 0;
    for (size_t t = 0; t < 128; ++t) {
      if (vocab.special[static_cast<size_t>(original[t])]) {
        ASSERT_EQ(targets[t], -1) << "special tokens are never selected";
        ASSERT_EQ(ids[t], original[t]);
        continue;
      }
      ++tokens;
      if (targets[t] < 0) {
        ASSERT_EQ(ids[t], original[t]) << "unselected tokens stay";
        continue;
      }
      ASSERT_EQ(targets[t], original[t]) << "the target is the original token";
      ++count;
      if (ids[t] == vocab.mask) ++masked;
      else if (ids[t] == original[t]) ++kept;
      else ++randomized;
    }
    ASSERT_EQ(n, count);
    selected += n;
  }
  // 250k candidate tokens: the binomial standard deviations are ~0.0007 (15%) and ~0.002 (80%).
  EXPECT_NEAR(static_cast<double>(selected) / tokens, 0.15, 0.005);
  EXPECT_NEAR(static_cast<double>(masked) / selected, 0.80, 0.01);
  EXPECT_NEAR(static_cast<double>(randomized) / selected, 0.10, 0.01);  // a random draw equal to the original counts as kept
  EXPECT_NEAR(static_cast<double>(kept) / selected, 0.10, 0.01);
}

TEST(MaskedLM, WholeWordMaskingSelectsWordsAsUnits) {
  const auto vocab = synthetic_vocab();
  train::MaskingConfig cfg;
  cfg.whole_word = true;
  int64_t words = 0, words_selected = 0;
  for (uint64_t row = 0; row < 1000; ++row) {
    // Words of 1-3 tokens: a word start in [5, 500) then continuation pieces in [500, 1000).
    Rng rng(row);
    std::vector<int32_t> ids{vocab.cls};
    while (ids.size() < 120) {
      ids.push_back(5 + static_cast<int32_t>(rng.below(495)));
      for (uint64_t k = rng.below(3); k > 0; --k) ids.push_back(500 + static_cast<int32_t>(rng.below(500)));
    }
    ids.push_back(vocab.sep);
    const std::vector<int32_t> original = ids;
    std::vector<int32_t> targets(ids.size());
    train::mask_row(ids, targets, cfg, vocab, row);
    // Walk the words of the original row: a start piece and the continuation pieces after it.
    for (size_t t = 1; t + 1 < original.size();) {
      size_t end = t + 1;
      while (end + 1 < original.size() && vocab.continues[static_cast<size_t>(original[end])]) ++end;
      const bool selected = targets[t] >= 0;
      for (size_t k = t; k < end; ++k) ASSERT_EQ(targets[k] >= 0, selected) << "row " << row << ": a word is selected as a unit";
      ++words, words_selected += selected;
      t = end;
    }
  }
  EXPECT_NEAR(static_cast<double>(words_selected) / words, 0.15, 0.01);
}

TEST(MaskedLM, MasksAreAFunctionOfTheKeyAlone) {
  const auto vocab = synthetic_vocab();
  const train::MaskingConfig cfg;
  auto masked = [&](uint64_t key) {
    std::vector<int32_t> ids = random_row(256, 5, 5, 1000), targets(256);
    train::mask_row(ids, targets, cfg, vocab, key);
    ids.insert(ids.end(), targets.begin(), targets.end());
    return ids;
  };
  EXPECT_EQ(masked(42), masked(42));
  EXPECT_NE(masked(42), masked(43));
}

class MaskedLMSampler : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fresh_temp_dir("mlm_sampler");
    data::TokenShardWriter w(dir_ + "/train-00000.bin", 1000);
    stream_ = random_row(5000, 9, 5, 1000);
    for (size_t i = 400; i < stream_.size(); i += 401) stream_[i] = 2;  // document separators ([SEP])
    w.append_document(stream_);
    w.finish();
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
  std::vector<int32_t> stream_;
};

TEST_F(MaskedLMSampler, LaysOutSentencePairsWithSegmentsFromTheStream) {
  const auto data = data::TokenDataset::open(dir_, "train");
  const train::MaskedLMSampler s(data, 4, 32, 7, train::MaskingConfig(), synthetic_vocab());
  const data::Batch b = s.sample(3, 1);
  ASSERT_EQ(b["ids"].shape(), Shape({4, 32}));
  ASSERT_TRUE(b.has("segments"));
  const auto ids = b["ids"].to_int_vector(), tg = b["targets"].to_int_vector(), seg = b["segments"].to_int_vector();
  for (int r = 0; r < 4; ++r) {
    const int32_t* row = ids.data() + r * 32;
    const int32_t* t = tg.data() + r * 32;
    const int32_t* sg = seg.data() + r * 32;
    EXPECT_EQ(row[0], 1);
    EXPECT_EQ(row[31], 2);
    // The original text (targets where selected) is a window of the stream.
    int split = -1;
    for (int k = 1; k < 32 && split < 0; ++k)
      if (sg[k] == 1 && sg[k - 1] == 0) split = k;
    std::vector<int32_t> text;
    for (int k = 1; k < 31; ++k)
      if (k != split - 1) text.push_back(t[k] >= 0 ? t[k] : row[k]);
    ASSERT_GT(split, 2) << "segment B starts after [CLS] A [SEP]";
    EXPECT_EQ(row[split - 1], 2) << "A ends with [SEP]";
    for (int k = split; k < 32; ++k) EXPECT_EQ(sg[k], 1);
    for (int k = 0; k < split; ++k) EXPECT_EQ(sg[k], 0);
    ASSERT_EQ(text.size(), 29u);
    const auto at = std::search(stream_.begin(), stream_.end(), text.begin(), text.end());
    EXPECT_NE(at, stream_.end()) << "row " << r << " is not a window of the token stream";
  }
  // A pure function of (seed, step, micro): the same call gives the same batch, another step another.
  EXPECT_EQ(s.sample(3, 1)["ids"].to_int_vector(), ids);
  EXPECT_EQ(s.sample(3, 1)["targets"].to_int_vector(), tg);
  EXPECT_NE(s.sample(4, 1)["ids"].to_int_vector(), ids);
  EXPECT_EQ(s.eval_batch(1, 5)["ids"].to_int_vector(), s.eval_batch(1, 5)["ids"].to_int_vector());

  train::MaskingConfig single;
  single.sentence_pairs = false;
  const train::MaskedLMSampler s1(data, 2, 16, 7, single, synthetic_vocab());
  const data::Batch b1 = s1.sample(0, 0);
  EXPECT_FALSE(b1.has("segments")) << "single segments: all zero, left to the model's default";
  EXPECT_THROW(train::MaskedLMSampler(data, 2, 4, 7, train::MaskingConfig(), synthetic_vocab()), ValueError);
}

TEST(MaskedLM, BertVocabularyGivesItsSpecialTokensAndWordPieces) {
  const auto tok = tokenize::Tokenizer::load(fetch_dataset("bert-vocab") + "/vocab.txt");
  const auto v = train::MaskVocabulary::from_tokenizer(tok, "vocab.txt");
  EXPECT_EQ(v.cls, 101);
  EXPECT_EQ(v.sep, 102);
  EXPECT_EQ(v.mask, 103);
  EXPECT_EQ(v.size, 30522);
  EXPECT_TRUE(v.special[0]);  // [PAD]
  const auto pieces = tok.encode("unaffable");  // un ##aff ##able
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_FALSE(v.continues[static_cast<size_t>(pieces[0])]);
  EXPECT_TRUE(v.continues[static_cast<size_t>(pieces[1])]);
  EXPECT_TRUE(v.continues[static_cast<size_t>(pieces[2])]);
}

TEST(MaskedLM, PretrainConfigKnowsEncodersAndNamesBadKeys) {
  const auto c = train::PretrainConfig::load("bert-mini");
  EXPECT_EQ(c.objective, "masked_lm") << "the bert family pretrains by masked LM";
  ASSERT_EQ(c.model->model_type(), "bert");
  EXPECT_EQ(dynamic_cast<const models::EncoderConfig&>(*c.model).n_layers, 4);
  EXPECT_EQ(c.sequence_length(), 128);
  EXPECT_EQ(train::PretrainConfig::load("gpt2-tiny").objective, "causal_lm");
  const auto j = train::PretrainConfig::from_json(
      {{"model", {{"arch", "bert"}, {"n_layers", 2}}}, {"masking", {{"whole_word", true}, {"probability", 0.2}}}}, "cfg");
  const auto masking = train::MaskingConfig::from_json(j.objective_options, "masking");
  EXPECT_TRUE(masking.whole_word);
  EXPECT_FLOAT_EQ(masking.probability, 0.2f);
  EXPECT_EQ(train::PretrainConfig::from_json(j.to_json(), "again").to_json(), j.to_json());
  auto expect_error = [](const nlohmann::json& cfg, const std::string& needle) {
    try {
      train::PretrainConfig::from_json(cfg, "cfg");
      ADD_FAILURE() << "accepted " << cfg.dump();
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error({{"model", "gpt2-tiny"}, {"masking", {{"whole_word", true}}}}, "cfg.masking: masking is for the masked_lm objective");
  expect_error({{"model", "bert-mini"}, {"masking", {{"wholeword", true}}}}, "unknown key 'wholeword'");
  expect_error({{"model", "bert-mini"}, {"masking", {{"probability", 1.5}}}}, "probability must be in (0, 1)");
  expect_error({{"model", "bert-mini"}, {"training", {{"context", 600}}}}, "600 exceeds the model's context of 512");
}

// The data-parallel seam (train/data_parallel.h): process `rank` of W, drawing B rows, draws rows
// [rank B, (rank + 1) B) of the batch one process of W x B rows draws, masks included; world = 1
// is the single-process sampler unchanged.
TEST_F(MaskedLMSampler, EachShardDrawsItsRowsOfTheGlobalBatch) {
  const auto data = data::TokenDataset::open(dir_, "train");
  const train::MaskedLMSampler whole(data, 4, 32, 7, train::MaskingConfig(), synthetic_vocab());
  const train::MaskedLMSampler first(data, 2, 32, 7, train::MaskingConfig(), synthetic_vocab(), train::Shard{0, 2});
  const train::MaskedLMSampler second(data, 2, 32, 7, train::MaskingConfig(), synthetic_vocab(), train::Shard{1, 2});
  for (const char* key : {"ids", "targets", "segments"}) {
    auto all = whole.sample(5, 1)[key].to_int_vector();
    auto a = first.sample(5, 1)[key].to_int_vector(), b = second.sample(5, 1)[key].to_int_vector();
    a.insert(a.end(), b.begin(), b.end());
    EXPECT_EQ(a, all) << key;
  }
  const train::BatchSampler causal(data, 4, 16, 7), causal_second(data, 2, 16, 7, train::Shard{1, 2});
  const auto all = causal.sample(3, 0)["ids"].to_int_vector(), b = causal_second.sample(3, 0)["ids"].to_int_vector();
  EXPECT_EQ(std::vector<int32_t>(all.begin() + 2 * 16, all.end()), b);
}

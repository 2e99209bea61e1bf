// BERT against the PyTorch reference (tests/reference/models.py, HF BertForMaskedLM layout) loading
// Cornerstone's checkpoint: MLM logits, hidden states, pooler, loss and every parameter gradient,
// post-norm and pre-norm, with and without right padding; plus the HF config, presets and the
// bad inputs (too long, bad segment ids).
#include <gtest/gtest.h>

#include <filesystem>

#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/safetensors.h"
#include "cornerstone/models/bert/bert.h"
#include "cornerstone/models/bert/bert_hf.h"
#include "cornerstone/models/load.h"
#include "cornerstone/ops/elementwise.h"
#include "cornerstone/ops/loss.h"
#include "op_check.h"
#include "oracle.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;
namespace fs = std::filesystem;

namespace {

models::EncoderConfig small(bool pre_norm) {
  models::EncoderConfig c;
  c.vocab_size = 97, c.context = 32, c.n_layers = 2, c.d_model = 32, c.n_heads = 4, c.d_ff = 64;
  c.pre_norm = pre_norm, c.dropout = 0.0f, c.init_std = 0.1f;
  return c;
}

Tensor random_ids(const Shape& s, int32_t vocab, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> v(static_cast<size_t>(s.numel()));
  for (auto& x : v) x = static_cast<int32_t>(rng.below(static_cast<uint64_t>(vocab)));
  return Tensor::from_data(s, v);
}

// MLM targets: about a third of the positions predicted, the rest -1; none on padding.
Tensor random_targets(const Shape& s, int32_t vocab, uint64_t seed, const std::vector<int32_t>& lengths) {
  Rng rng(seed);
  std::vector<int32_t> v(static_cast<size_t>(s.numel()));
  const int64_t T = s[1];
  for (size_t i = 0; i < v.size(); ++i) {
    const bool real = lengths.empty() || static_cast<int64_t>(i) % T < lengths[i / static_cast<size_t>(T)];
    v[i] = real && rng.below(3) == 0 ? static_cast<int32_t>(rng.below(static_cast<uint64_t>(vocab))) : -1;
  }
  return Tensor::from_data(s, v);
}

std::string save_temp(const models::BERT& model, const std::string& tag) {
  const fs::path dir = fs::temp_directory_path() / ("cs_bert_" + tag + std::to_string(::getpid()));
  fs::create_directories(dir);
  models::save_model(model, dir.string());
  return dir.string();
}

}  // namespace

TEST(BERT, ParameterCountsMatchTheHuggingFaceModels) {
  // bert-base-uncased: BertModel 109,482,240 parameters; with the MLM head (transform, its
  // LayerNorm, output bias; decoder tied) 110,104,890; BertForMaskedLM drops the pooler.
  EXPECT_EQ(models::EncoderConfig::preset("bert-base").num_parameters(), 110104890);
  for (bool pre : {false, true}) {
    models::BERT m(small(pre), 1);
    EXPECT_EQ(m.num_parameters(), m.config().num_parameters());
  }
}

TEST(BERT, LogitsHiddenPooledAndEveryGradientMatchThePyTorchReference) {
  for (bool pre_norm : {false, true})
    for (bool padded : {false, true}) {
      SCOPED_TRACE(std::string(pre_norm ? "pre-norm" : "post-norm") + (padded ? ", padded" : ""));
      const models::EncoderConfig cfg = small(pre_norm);
      models::BERT model(cfg, 7);
      const std::string dir = save_temp(model, pre_norm ? "pre" : "post");
      const std::vector<int32_t> lengths = padded ? std::vector<int32_t>{13, 6, 1} : std::vector<int32_t>{};
      const Tensor ids = random_ids({3, 13}, static_cast<int32_t>(cfg.vocab_size), 3);
      const Tensor segments = random_ids({3, 13}, 2, 4);
      const Tensor targets = random_targets({3, 13}, static_cast<int32_t>(cfg.vocab_size), 5, lengths);

      // The loss the reference takes: MLM cross-entropy + mean(pooled^2). Unpadded, through the
      // training path (mlm_loss: the head on the predicted rows only); padded, through the
      // full-logits path with the attention mask.
      const Tensor len = padded ? Tensor::from_data({3}, lengths) : Tensor();
      const Tensor h = model.hidden(ids, segments, len);
      const Tensor logits = model.mlm_logits(h), pooled = model.pooled(h);
      const Tensor mlm = padded ? ops::cross_entropy(logits.view({39, cfg.vocab_size}), targets.view({39}))
                                : model.mlm_loss(ids, segments, targets);
      Tensor loss = ops::add(mlm, ops::mean(ops::mul(pooled, pooled)));
      loss.backward();

      nlohmann::json names = nlohmann::json::array();
      for (const auto& [n, t] : model.hf_state_dict()) names.push_back(n);
      nlohmann::json attrs = {{"dir", dir}, {"names", names}};
      if (padded) attrs["lengths"] = lengths;
      const auto ref = Oracle::instance().run("encoder_model", {ids, segments, targets}, attrs);
      attrs["float64"] = true;
      const auto exact = Oracle::instance().run("encoder_model", {ids, segments, targets}, attrs);
      EXPECT_TRUE(all_close(loss.detach(), ref.outputs[0], 1e-5, 1e-6)) << "loss";
      EXPECT_TRUE(all_close(logits.detach(), ref.outputs[1], 1e-5, 1e-5)) << "MLM logits";
      EXPECT_TRUE(all_close(h.detach(), ref.outputs[2], 1e-5, 1e-5)) << "hidden states";
      EXPECT_TRUE(all_close(pooled.detach(), ref.outputs[3], 1e-5, 1e-6)) << "pooled";
      EXPECT_TRUE(as_accurate_as_torch(h.detach(), ref.outputs[2], exact.outputs[2])) << "hidden states";

      // Gradients in HF layout: a model whose parameters are our gradients, exported.
      models::BERT grads(cfg, 0, /*random_init=*/false);
      for (const auto& [n, p] : model.named_parameters()) {
        ASSERT_TRUE(p.grad().defined()) << n << " has no gradient";
        grads.parameter(n).detach().copy_from(p.grad());
      }
      const auto hf_grads = grads.hf_state_dict();
      for (size_t i = 0; i < hf_grads.size(); ++i) {
        EXPECT_TRUE(all_close(hf_grads[i].second, ref.outputs[4 + i], 1e-4, 1e-5)) << hf_grads[i].first;
        EXPECT_TRUE(as_accurate_as_torch(hf_grads[i].second, ref.outputs[4 + i], exact.outputs[4 + i])) << hf_grads[i].first;
      }
      fs::remove_all(dir);
    }
}

TEST(BERT, PaddingNeverChangesTheRealPositions) {
  models::BERT model(small(false), 11);
  const Tensor ids = random_ids({2, 9}, 97, 12);
  const Tensor alone = model.hidden(ids.slice(0, 1, 2).slice(1, 0, 4).contiguous());
  const Tensor batch = model.hidden(ids, Tensor(), Tensor::from_data({2}, std::vector<int32_t>{9, 4}));
  EXPECT_TRUE(all_close(batch.slice(0, 1, 2).slice(1, 0, 4).contiguous(), alone, 1e-6, 1e-6));
}

TEST(BERT, HfConfigRoundTripsAndBadKeysAreNamed) {
  for (bool pre : {false, true}) {
    const auto c = small(pre);
    EXPECT_EQ(models::encoder_config_from_hf(models::hf_config(c)).to_json(), c.to_json());
  }
  auto j = models::hf_config(small(false));
  j["hidden_act"] = "relu";
  EXPECT_THROW(models::encoder_config_from_hf(j), UnsupportedError);
  j = models::hf_config(small(false));
  j.erase("num_hidden_layers");
  try {
    models::encoder_config_from_hf(j, "x/config.json");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("x/config.json: missing key 'num_hidden_layers'"), std::string::npos) << e.what();
  }
  try {
    models::EncoderConfig::from_json({{"arch", "bert"}, {"n_layer", 3}});
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown key 'n_layer'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(models::EncoderConfig::from_json({{"arch", "gpt2"}}), ValueError);
  EXPECT_THROW(models::EncoderConfig::from_json({{"d_model", 100}, {"n_heads", 3}}), ValueError);
  EXPECT_THROW(models::EncoderConfig::preset("bert-huge"), ValueError);
  for (const auto& name : models::EncoderConfig::preset_names()) EXPECT_NO_THROW(models::EncoderConfig::preset(name)) << name;
}

TEST(BERT, SavedFoldersLoadExactlyAndThePoolerAndHeadAreOptional) {
  models::BERT a(small(false), 1);
  const std::string dir = save_temp(a, "load");
  const auto b = models::load_model(dir);
  ASSERT_EQ(b->model_type(), "bert");
  for (const auto& [n, p] : a.named_parameters()) EXPECT_EQ(p.to_vector(), b->parameter(n).to_vector()) << n;
  EXPECT_THROW(models::load_gpt(dir), UnsupportedError);  // generation needs a decoder: said plainly
  // A BertModel without the pooler or the MLM head (e.g. from another tool) loads; they keep their init.
  const auto sd = a.hf_state_dict();
  models::BERT c(small(false), 2);
  c.load_hf_state_dict([&](const std::string& n) {
    if (n.rfind("bert.pooler", 0) == 0 || n.rfind("cls.", 0) == 0) return Tensor();
    for (const auto& [k, t] : sd) if (k == n) return t;
    return Tensor();
  }, "test");
  EXPECT_EQ(c.word_embeddings().to_vector(), a.word_embeddings().to_vector());
  EXPECT_NE(c.pooler().weight().to_vector(), a.pooler().weight().to_vector());
  try {
    c.load_hf_state_dict([](const std::string&) { return Tensor(); }, "empty.safetensors");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("empty.safetensors: missing tensor 'bert.embeddings.word_embeddings.weight'"),
              std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(BERT, TooLongSequencesAndBadSegmentIdsAreNamed) {
  models::BERT model(small(false), 1);
  try {
    model.hidden(random_ids({1, 33}, 97, 1));
    FAIL();
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("33 tokens exceeds the position table of 32"), std::string::npos) << e.what();
  }
  std::vector<int32_t> seg(10, 0);
  seg[7] = 2;
  try {
    model.hidden(random_ids({2, 5}, 97, 1), Tensor::from_data({2, 5}, seg));
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("segment id 2 of sequence 1, position 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(model.hidden(random_ids({2, 5}, 97, 1), Tensor(), Tensor::from_data({2}, std::vector<int32_t>{5, 6})), ValueError);
}

TEST(BERT, ActivationCheckpointingGivesTheSameLossAndGradients) {
  auto cfg = small(false);
  cfg.dropout = 0.1f;
  models::BERT plain(cfg, 5), ckpt(cfg, 5);
  ckpt.set_checkpoint_activations(true);
  const Tensor ids = random_ids({2, 11}, 97, 8), tg = random_targets({2, 11}, 97, 9, {});
  Rng ra(77), rb(77);
  Tensor la = plain.mlm_loss(ids, Tensor(), tg, &ra), lb = ckpt.mlm_loss(ids, Tensor(), tg, &rb);
  la.backward();
  lb.backward();
  EXPECT_EQ(la.item(), lb.item());
  EXPECT_EQ(ra.offset(), rb.offset());
  for (const auto& [n, p] : plain.named_parameters()) {
    ASSERT_EQ(p.grad().defined(), ckpt.parameter(n).grad().defined()) << n;  // the pooler takes no part in the MLM loss
    if (p.grad().defined()) { EXPECT_EQ(p.grad().to_vector(), ckpt.parameter(n).grad().to_vector()) << n; }
  }
}

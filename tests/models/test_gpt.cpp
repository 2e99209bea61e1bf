// Whole decoder models, both families: logits, loss and every parameter gradient against the
// PyTorch reference models (tests/reference/models.py) loading Cornerstone's HF-named checkpoint.
#include <gtest/gtest.h>

#include <filesystem>

#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/safetensors.h"
#include "cornerstone/models/gpt/gpt.h"
#include "cornerstone/models/gpt/gpt_hf.h"
#include "oracle.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;
namespace fs = std::filesystem;

namespace {

models::DecoderConfig small(models::DecoderArch arch) {
  models::DecoderConfig c;
  c.arch = arch;
  c.vocab_size = 97, c.context = 32, c.n_layers = 2, c.d_model = 32, c.n_heads = 4, c.d_ff = 64;
  c.n_kv_heads = arch == models::DecoderArch::Llama ? 2 : 4;
  c.tie_embeddings = arch == models::DecoderArch::GPT2;
  c.init_std = 0.1f;
  return c;
}

Tensor random_ids(const Shape& s, int32_t vocab, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> v(static_cast<size_t>(s.numel()));
  for (auto& x : v) x = static_cast<int32_t>(rng.below(static_cast<uint64_t>(vocab)));
  return Tensor::from_data(s, v);
}

}  // namespace

TEST(GPT, ParameterCountOfGpt2SmallIs124M) {
  EXPECT_EQ(models::DecoderConfig::preset("gpt2-small").num_parameters(), 124439808);
  models::GPT tiny(small(models::DecoderArch::GPT2), 1);
  EXPECT_EQ(tiny.num_parameters(), tiny.config().num_parameters());
  models::GPT llama(small(models::DecoderArch::Llama), 1);
  EXPECT_EQ(llama.num_parameters(), llama.config().num_parameters());
}

TEST(GPT, LogitsLossAndGradientsMatchThePyTorchReference) {
  for (auto arch : {models::DecoderArch::GPT2, models::DecoderArch::Llama}) {
    SCOPED_TRACE(models::arch_name(arch));
    const models::DecoderConfig cfg = small(arch);
    models::GPT model(cfg, 7);
    const fs::path dir = fs::temp_directory_path() / ("cs_gpt_" + models::arch_name(arch) + std::to_string(::getpid()));
    fs::create_directories(dir);
    io::save_safetensors((dir / "model.safetensors").string(), models::hf_state_dict(model));
    io::write_file_atomic((dir / "config.json").string(), models::hf_config(cfg).dump(2));

    const Tensor ids = random_ids({2, 13}, static_cast<int32_t>(cfg.vocab_size), 3);
    const Tensor targets = random_ids({2, 13}, static_cast<int32_t>(cfg.vocab_size), 4);
    const Tensor logits = model.logits(model.hidden(ids));
    Tensor loss = model.loss(ids, targets);
    loss.backward();

    // The reference returns gradients under HF names; map ours through the same layout.
    nlohmann::json names = nlohmann::json::array();
    const auto hf = models::hf_state_dict(model);
    for (const auto& [n, t] : hf) names.push_back(n);
    const auto ref = Oracle::instance().run("decoder_model", {ids, targets}, {{"dir", dir.string()}, {"names", names}});
    EXPECT_TRUE(all_close(loss.detach(), ref.outputs[0], 1e-5, 1e-6)) << "loss";
    EXPECT_TRUE(all_close(logits.detach(), ref.outputs[1], 1e-5, 1e-5)) << "logits";
    // Gradients in HF layout: build a model whose parameters are our gradients, and export it.
    models::GPT grads(cfg, 0);
    for (const auto& [n, p] : model.named_parameters()) grads.parameter(n).detach().copy_from(p.grad());
    const auto hf_grads = models::hf_state_dict(grads);
    for (size_t i = 0; i < hf_grads.size(); ++i)
      EXPECT_TRUE(all_close(hf_grads[i].second, ref.outputs[2 + i], 1e-4, 1e-6)) << hf_grads[i].first;
    fs::remove_all(dir);
  }
}

TEST(GPT, HfConfigRoundTripsAndBadKeysAreNamed) {
  for (auto arch : {models::DecoderArch::GPT2, models::DecoderArch::Llama}) {
    const auto c = small(arch);
    const auto back = models::config_from_hf(models::hf_config(c));
    EXPECT_EQ(back.to_json(), c.to_json());
  }
  EXPECT_THROW(models::config_from_hf({{"model_type", "t5"}}), UnsupportedError);
  try {
    models::DecoderConfig::from_json({{"n_layer", 3}});
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown key 'n_layer'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(models::DecoderConfig::from_json({{"d_model", "big"}}), ValueError);
  EXPECT_THROW(models::DecoderConfig::from_json({{"d_model", 100}, {"n_heads", 3}}), ValueError);
  EXPECT_THROW(models::DecoderConfig::preset("gpt5"), ValueError);
}

TEST(GPT, LoadingAnHfStateDictRestoresTheModelExactly) {
  const auto cfg = small(models::DecoderArch::Llama);
  models::GPT a(cfg, 1), b(cfg, 2);
  const auto sd = models::hf_state_dict(a);
  models::load_hf_state_dict(b, [&](const std::string& n) {
    for (const auto& [k, t] : sd) if (k == n) return t;
    return Tensor();
  }, "test");
  for (const auto& [n, p] : a.named_parameters()) EXPECT_EQ(p.to_vector(), b.parameter(n).to_vector()) << n;
  EXPECT_THROW(models::load_hf_state_dict(b, [](const std::string&) { return Tensor(); }, "empty"), FormatError);
}

TEST(GPT, ActivationCheckpointingGivesTheSameLossAndGradients) {
  for (float dropout : {0.0f, 0.1f}) {
    auto cfg = small(models::DecoderArch::GPT2);
    cfg.dropout = dropout;
    models::GPT plain(cfg, 5), ckpt(cfg, 5);
    ckpt.set_checkpoint_activations(true);
    const Tensor ids = random_ids({2, 11}, static_cast<int32_t>(cfg.vocab_size), 8);
    const Tensor tg = random_ids({2, 11}, static_cast<int32_t>(cfg.vocab_size), 9);
    Rng ra(77), rb(77);
    Tensor la = plain.loss(ids, tg, &ra), lb = ckpt.loss(ids, tg, &rb);
    la.backward();
    lb.backward();
    EXPECT_EQ(la.item(), lb.item()) << "dropout " << dropout;
    EXPECT_EQ(ra.offset(), rb.offset()) << "the generator ends where the forward pass left it";
    for (const auto& [n, p] : plain.named_parameters())
      EXPECT_EQ(p.grad().to_vector(), ckpt.parameter(n).grad().to_vector()) << n << " dropout " << dropout;
  }
}

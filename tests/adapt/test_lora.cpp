// LoRA: adapters start at the base model, train only A and B, match a PyTorch reference with PEFT's
// tensor names (forward and gradients), merge and unmerge exactly, save and load in PEFT's layout.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "cornerstone/adapt/lora.h"
#include "cornerstone/core/error.h"
#include "cornerstone/infer/decoder_runner.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/safetensors.h"
#include "cornerstone/models/gpt/gpt_hf.h"
#include "cornerstone/models/load.h"
#include "cornerstone/train/optimizer.h"
#include "cli.h"
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

// Gives every adapter's B a random value (a trained adapter), so the adapters matter.
void randomize_adapters(models::GPT& m, uint64_t seed) {
  Rng rng(seed);
  for (auto& [n, p] : m.trainable_parameters()) p.detach().copy_from(Tensor::uniform(p.shape(), rng, -0.3f, 0.3f));
}

Tensor logits_of(const models::GPT& m, const Tensor& ids) { return m.logits(m.hidden(ids)).detach(); }

}  // namespace

TEST(LoRA, StartsAtTheBaseModelAndTrainsOnlyTheAdapters) {
  const auto cfg = small(models::DecoderArch::GPT2);
  models::GPT base(cfg, 3), lora(cfg, 3);
  adapt::LoRAConfig lc;
  lc.rank = 4, lc.targets = {"c_attn"};
  EXPECT_EQ(adapt::apply_lora(lora, lc, 1), 2);  // one slice per layer
  const Tensor ids = random_ids({2, 9}, 97, 1);
  EXPECT_EQ(logits_of(base, ids).to_vector(), logits_of(lora, ids).to_vector()) << "B = 0: the base model exactly";
  // Trainable: A (4, 32) and B (96, 4) per layer.
  EXPECT_EQ(lora.num_trainable_parameters(), 2 * (4 * 32 + 96 * 4));
  for (const auto& [n, p] : lora.trainable_parameters()) EXPECT_NE(n.find("adapter"), std::string::npos) << n;
  Tensor loss = lora.loss(ids, random_ids({2, 9}, 97, 2));
  loss.backward();
  for (const auto& [n, p] : lora.named_parameters()) EXPECT_EQ(p.grad().defined(), p.requires_grad()) << n;
  EXPECT_THROW(adapt::apply_lora(base, adapt::LoRAConfig{4, 8, 0, {"q_proj"}}, 1), ValueError);  // no q_proj in GPT-2
}

TEST(LoRA, ForwardAndGradientsMatchAPeftStyleReferenceForBothFamilies) {
  for (auto arch : {models::DecoderArch::GPT2, models::DecoderArch::Llama}) {
    SCOPED_TRACE(models::arch_name(arch));
    const auto cfg = small(arch);
    models::GPT m(cfg, 4);
    const std::string dir = fresh_temp_dir("lora_ref");
    models::save_gpt(m, dir);
    adapt::LoRAConfig lc;
    lc.rank = 3, lc.alpha = 6;
    lc.targets = arch == models::DecoderArch::GPT2 ? std::vector<std::string>{"c_attn", "c_fc"}
                                                   : std::vector<std::string>{"q_proj", "v_proj", "down_proj"};
    adapt::apply_lora(m, lc, 2);
    randomize_adapters(m, 5);
    adapt::save_peft(m, lc, dir + "/adapter", dir);

    const Tensor ids = random_ids({2, 10}, 97, 6), targets = random_ids({2, 10}, 97, 7);
    const Tensor logits = logits_of(m, ids);
    Tensor loss = m.loss(ids, targets);
    loss.backward();
    const auto f = io::SafeTensorsFile::open(dir + "/adapter/adapter_model.safetensors");
    nlohmann::json names = f.names();
    const auto ref = Oracle::instance().run("decoder_model_lora", {ids, targets},
                                            {{"dir", dir}, {"adapter", dir + "/adapter"}, {"names", names}});
    EXPECT_TRUE(all_close(loss.detach(), ref.outputs[0], 1e-5, 1e-6));
    EXPECT_TRUE(all_close(logits, ref.outputs[1], 1e-5, 1e-5));
    // Our gradients, in the same order as the PEFT tensor names.
    std::map<std::string, Tensor> ours;
    for (const auto& [n, p] : m.trainable_parameters()) ours[n] = p.grad();
    size_t k = 0;
    for (const std::string& n : f.names()) {
      // Find the adapter parameter holding this tensor's values (PEFT name -> our parameter).
      const Tensor stored = f.get(n);
      bool found = false;
      for (const auto& [on, p] : m.trainable_parameters())
        if (p.shape() == stored.shape() && p.to_vector() == stored.to_vector()) {
          EXPECT_TRUE(all_close(p.grad(), ref.outputs[2 + k], 1e-4, 1e-6)) << n;
          found = true;
          break;
        }
      EXPECT_TRUE(found) << n;
      ++k;
    }
    fs::remove_all(dir);
  }
}

TEST(LoRA, MergedLogitsEqualBasePlusAdapterAndUnmergeRestoresTheBase) {
  for (auto arch : {models::DecoderArch::GPT2, models::DecoderArch::Llama}) {
    const auto cfg = small(arch);
    models::GPT m(cfg, 8);
    const Tensor ids = random_ids({2, 12}, 97, 9);
    const Tensor base_logits = logits_of(m, ids);
    std::map<std::string, std::vector<float>> base_weights;
    for (const auto& [n, p] : m.named_parameters()) base_weights[n] = p.to_vector();
    adapt::apply_lora(m, adapt::LoRAConfig{4, 8, 0, {"all-linear"}}, 3);
    randomize_adapters(m, 10);
    const Tensor adapted = logits_of(m, ids);
    EXPECT_FALSE(all_close(adapted, base_logits, 1e-3, 1e-3)) << "the adapters change the model";
    adapt::merge_lora(m);
    EXPECT_TRUE(all_close(logits_of(m, ids), adapted, 1e-5, 1e-5)) << "merged == base + adapter";
    adapt::unmerge_lora(m);
    EXPECT_TRUE(all_close(logits_of(m, ids), adapted, 1e-5, 1e-5));
    for (const auto& [n, p] : m.named_parameters())
      if (base_weights.count(n)) { EXPECT_TRUE(all_close(p.to_vector(), base_weights[n], 1e-5, 1e-6)) << n; }
  }
}

TEST(LoRA, PeftFilesRoundTripAndBadFilesAreNamed) {
  const auto cfg = small(models::DecoderArch::Llama);
  models::GPT a(cfg, 11), b(cfg, 11);
  adapt::LoRAConfig lc{4, 16, 0.05f, {"q_proj", "k_proj", "o_proj", "up_proj"}};
  adapt::apply_lora(a, lc, 1);
  randomize_adapters(a, 12);
  const std::string dir = fresh_temp_dir("peft");
  adapt::save_peft(a, lc, dir, "base");
  const auto loaded = adapt::load_peft(b, dir);
  EXPECT_EQ(loaded.rank, 4);
  EXPECT_EQ(loaded.alpha, 16);
  const Tensor ids = random_ids({1, 8}, 97, 13);
  a.eval(), b.eval();
  EXPECT_EQ(logits_of(a, ids).to_vector(), logits_of(b, ids).to_vector());
  const auto j = nlohmann::json::parse(io::read_file(dir + "/adapter_config.json"));
  EXPECT_EQ(j["peft_type"], "LORA");
  EXPECT_EQ(j["target_modules"], nlohmann::json({"mlp.up_proj", "self_attn.k_proj", "self_attn.o_proj", "self_attn.q_proj"}));
  EXPECT_TRUE(io::SafeTensorsFile::open(dir + "/adapter_model.safetensors").contains(
      "base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight"));
  // A mis-shaped adapter is named.
  io::save_safetensors(dir + "/adapter_model.safetensors",
                       {{"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", Tensor::zeros({5, 32})}});
  models::GPT c(cfg, 11);
  try {
    adapt::load_peft(c, dir);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("q_proj.lora_A.weight' has shape (5, 32), expected (4, 32)"), std::string::npos)
        << e.what();
  }
  fs::remove_all(dir);
}

TEST(LoRA, SavedTargetsReloadExactlyTheAdaptedModules) {
  // GPT-2 has c_proj in both attn and mlp: adapting only the attention one must reload that way.
  const auto cfg = small(models::DecoderArch::GPT2);
  models::GPT a(cfg, 1), b(cfg, 1);
  adapt::LoRAConfig lc{4, 8, 0, {"attn"}};
  adapt::apply_lora(a, lc, 2);
  const std::string dir = fresh_temp_dir("peft_targets");
  adapt::save_peft(a, lc, dir, "base");
  adapt::load_peft(b, dir);
  EXPECT_EQ(a.num_trainable_parameters(), b.num_trainable_parameters());
  EXPECT_FALSE(b.blocks()[0]->mlp().out().adapter());
  fs::remove_all(dir);
}

TEST(LoRA, TrainsOverABf16OrQ8FrozenBase) {
 for (DType storage : {DType::BF16, DType::Q8_0}) {
  SCOPED_TRACE(std::string(dtype_name(storage)));
  const auto cfg = small(models::DecoderArch::GPT2);
  models::GPT m(cfg, 14);
  const Tensor before = m.logits(m.hidden(random_ids({1, 8}, 97, 17))).detach();
  adapt::LoRAConfig lc{8, 16, 0, {"attn", "mlp"}};
  lc.base_storage = storage;
  adapt::apply_lora(m, lc, 1);
  // The reduced-precision base still computes (nearly) the same function.
  EXPECT_TRUE(all_close(m.logits(m.hidden(random_ids({1, 8}, 97, 17))).detach(), before, 2e-2, 2e-2));
  EXPECT_FALSE(m.blocks()[0]->attention().qkv().weight().defined()) << "the fp32 copy is gone";
  train::AdamW opt(m.trainable_parameters(), train::AdamWConfig{1e-2f, 0.9f, 0.99f, 1e-8f, 0.0f});
  const Tensor ids = random_ids({4, 16}, 97, 15), tg = random_ids({4, 16}, 97, 16);
  double first = 0, last = 0;
  for (int s = 0; s < 30; ++s) {
    opt.zero_grad();
    Tensor loss = m.loss(ids, tg);
    loss.backward();
    opt.step(1e-2f);
    (s == 0 ? first : last) = loss.item();
  }
  EXPECT_LT(last, first - 0.5) << "the adapters learn on a frozen reduced-precision base";
 }
}

// Serving adapters over one base (infer/lora_deltas.h): the runner adds each row's own adapter to
// the base's packed weights, and computes what the merged model computes, in any mix of rows.
TEST(LoRA, RunnerRowsWithTheirOwnAdapterEqualTheMergedModels) {
  for (const auto arch : {models::DecoderArch::GPT2, models::DecoderArch::Llama}) {
    const auto cfg = small(arch);
    models::GPT a(cfg, 3), b(cfg, 3);  // the same base, two adapters
    adapt::LoRAConfig la, lb;
    la.rank = 4, la.alpha = 8, la.targets = {"all-linear"};
    lb.rank = 2, lb.alpha = 4, lb.targets = {"attn"};
    adapt::apply_lora(a, la, 1);
    adapt::apply_lora(b, lb, 2);
    randomize_adapters(a, 5);
    randomize_adapters(b, 6);
    const infer::LoRADeltas da = adapt::lora_deltas(a), db = adapt::lora_deltas(b);
    const auto base = infer::InferenceWeights::from_model(a, infer::WeightFormat::F32);  // unmerged: the base's weights
    adapt::merge_lora(a);
    adapt::merge_lora(b);
    EXPECT_THROW(adapt::lora_deltas(a), ValueError) << "merged adapters are part of the weights";
    const auto merged_a = infer::InferenceWeights::from_model(a, infer::WeightFormat::F32);
    const auto merged_b = infer::InferenceWeights::from_model(b, infer::WeightFormat::F32);

    infer::DecoderRunner shared(base);
    EXPECT_EQ(shared.add_lora(da), 0);
    EXPECT_EQ(shared.add_lora(db), 1);
    const std::vector<int32_t> p0 = {5, 9, 13, 2, 40}, p1 = {7, 7, 3}, p2 = {60, 1, 2, 3};
    // One call: slot 0 the base, slot 1 adapter a, slot 2 adapter b; then one token each.
    infer::KVCache cache(base.config(), 3, 16);
    const Tensor l1 = shared.forward(cache, {{0, p0}, {1, p1, 0}, {2, p2, 1}});
    const int32_t next[] = {11, 12, 14};
    const Tensor l2 = shared.forward(cache, {{0, {&next[0], 1}}, {1, {&next[1], 1}, 0}, {2, {&next[2], 1}, 1}});
    // Each alone on its own (merged or base) weights.
    auto alone = [&](const infer::InferenceWeights& w, const std::vector<int32_t>& p, int32_t t) {
      infer::DecoderRunner run(w);
      infer::KVCache c(w.config(), 1, 16);
      const Tensor first = run.forward(c, {{0, p}});
      return std::make_pair(first, run.forward(c, {{0, {&t, 1}}}));
    };
    const std::pair<Tensor, Tensor> want[] = {alone(base, p0, next[0]), alone(merged_a, p1, next[1]), alone(merged_b, p2, next[2])};
    const int64_t V = cfg.vocab_size;
    for (int64_t row = 0; row < 3; ++row) {
      const auto& [w1, w2] = want[row];
      for (int64_t v = 0; v < V; ++v) {
        EXPECT_NEAR(l1.data<float>()[row * V + v], w1.data<float>()[v], 2e-5f + 2e-5f * std::abs(w1.data<float>()[v])) << "row " << row;
        EXPECT_NEAR(l2.data<float>()[row * V + v], w2.data<float>()[v], 2e-5f + 2e-5f * std::abs(w2.data<float>()[v])) << "row " << row;
      }
    }
    // The adapters change the outputs (the comparison above is not between equal models).
    EXPECT_GT(std::abs(want[1].first.data<float>()[0] - alone(base, p1, next[1]).first.data<float>()[0]), 1e-3f);
    // An adapter index the runner does not have is refused before anything runs.
    infer::KVCache c2(base.config(), 1, 16);
    EXPECT_THROW(shared.forward(c2, {{0, p0, 2}}), ValueError);
    EXPECT_EQ(c2.length(0), 0);
  }
}

TEST(LoRA, DeltasThatDoNotFitTheWeightsAreRefused) {
  const auto cfg = small(models::DecoderArch::GPT2);
  models::GPT a(cfg, 3);
  adapt::LoRAConfig la;
  la.rank = 4, la.targets = {"c_attn"};
  adapt::apply_lora(a, la, 1);
  const infer::LoRADeltas d = adapt::lora_deltas(a);
  auto other = cfg;
  other.d_model = 48, other.n_heads = 4;
  models::GPT wider(other, 3);
  infer::DecoderRunner run(infer::InferenceWeights::from_model(wider, infer::WeightFormat::F32));
  EXPECT_THROW(run.add_lora(d), ShapeError);
  models::GPT plain(cfg, 3);
  EXPECT_THROW(adapt::lora_deltas(plain), ValueError) << "no adapters at all";
}
